"""The message catalog: every user-facing string of the bot, in Chinese and English.

Why one plain dict: the original 疫情通 showed Chinese first with English alongside ("姓名(Name)"),
and members choose a language. Keeping each text as a (zh, en) pair in one place makes it easy to
review the two versions side by side, to test every entry (placeholders agree, messages fit in
WeCom's 2048-byte text limit) and to change wording without touching code. No gettext: the
catalog is small, both languages ship together, and a pair cannot drift out of sync unnoticed.

Rendering rules (per member language):
* ``lang == "en"`` → English only.
* any other language (normally ``"zh"``) → Chinese, then English on the following line(s); a blank
  line separates the two when an entry spans several lines.

A receipt, the basic info and alerts are followed by the answers: append
``engine.summary_lines(form, answers, lang)`` (already "体温 Temperature：36.5℃" per line) to the
catalog text rather than passing it as a parameter, so that it is shown once, not per language.

Parameters are ``str.format`` fields; ``{count:@member|members}`` is a count with its noun in
the singular or the plural ("1 member", "2 members"). A parameter may be a `Bi` pair when its
value itself depends on the language (an option label, a form title); each half is used for
its language.

`COMMANDS` lists the words members type for commands; `command_of` recognises them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from string import Formatter
from typing import Any, NamedTuple

__all__ = [
    "CATALOG",
    "COMMANDS",
    "Bi",
    "command_key",
    "command_of",
    "halves",
    "lang_only",
    "params_of",
    "side_by_side",
    "slashed",
    "stack",
    "stacked",
    "templates",
]


class Bi(NamedTuple):
    """A parameter value that differs by language."""

    zh: str
    en: str


CATALOG: dict[str, tuple[str, str]] = {
    # ---- product ---------------------------------------------------------------------------
    "app.name": ("疫情通", "Yiqingtong"),
    # ---- handlers: subscription, help ----------------------------------------------------------
    "greet.subscribe": (
        "{name}，您好！欢迎使用疫情通。\n"
        "首次使用请先填写基本信息（只需填写一次），之后每天回复“上报”完成健康上报。"
        "回复“帮助”查看说明。",
        "Hello {name}, welcome to Yiqingtong.\n"
        "First, please fill in your basic information (once only). After that, reply "
        "\"report\" every day to file your health report. Reply \"help\" for instructions.",
    ),
    "greet.refollow": (
        "{name}，欢迎回来！您的信息都还在，回复“上报”即可继续每日上报。",
        "Welcome back, {name}! Your information is still here; reply \"report\" to continue "
        "your daily reports.",
    ),
    "help": (
        "疫情通使用说明\n"
        "· 每日上报：回复“上报”，按提示逐项回答，最后点“提交”。每天只能提交一次，提交后不可修改。"
        "如与昨天相同，可一键“与昨日相同”。\n"
        "· 基本信息：首次使用时填写，只能填写一次，提交后不可修改，请仔细核对。\n"
        "· 位置：请点输入框旁的“+”→“位置”发送当前位置；身在国外无需定位。\n"
        "· 填写中可随时回复：上一步、取消、帮助。\n"
        "命令：上报｜信息（基本信息）｜状态（今天是否已报）｜帮助｜取消｜文字（纯文字提问）｜"
        "卡片（卡片提问）｜English｜中文",
        "How to use Yiqingtong\n"
        "- Daily report: reply \"report\", answer each question, then tap \"Submit\". "
        "One report a day; it cannot be changed after submission. If nothing changed since "
        "yesterday, tap \"Same as yesterday\".\n"
        "- Basic info: filled in once, the first time; it cannot be changed afterwards.\n"
        "- Location: tap \"+\" next to the input box, then \"Location\". No location is needed "
        "while you are abroad.\n"
        "- While answering you can reply: back, cancel, help.\n"
        "Commands: report | info | status | help | cancel | text (plain-text questions) | "
        "cards | English | 中文",
    ),
    "help.reviewer": (
        "审核老师命令（学工号也可写企业微信账号或姓名）：\n"
        "· 统计：今天本单位的上报情况\n"
        "· 提醒：立即提醒本单位今天未上报的成员\n"
        "· 代报 学工号：为成员填写今天的上报\n"
        "· 补报 学工号 日期 原因：为成员补报过去的一天（日期如 2026-11-29、11-29、昨天）\n"
        "· 免报 学工号 开始日期 结束日期 原因：成员在这几天无需上报\n"
        "· 确认 N：确认第 N 号异常提醒",
        "Reviewer commands (ID: the student/staff ID, the WeCom account or the name):\n"
        "- stats: today's reports in your units\n"
        "- remind: remind your units' non-reporters now\n"
        "- proxy ID: file today's report for a member\n"
        "- late ID DATE REASON: file a past day for a member (DATE e.g. 2026-11-29, 11-29, "
        "yesterday)\n"
        "- exempt ID FROM TO REASON: the member need not report on those days\n"
        "- ack N: acknowledge alert N",
    ),
    "help.faq": (
        "常见问题\n"
        "· 无需安装“企业微信”App，直接在微信里使用即可；安装后消息会推送到企业微信 App，"
        "微信里可能收不到提醒。微信里看不到卡片时，回复“文字”改用纯文字提问。\n"
        "· 误点了“退出企业”无法使用：请先解绑并退出，再重新扫码关注。\n"
        "· 定位失败：请逐项检查微信/企业微信的定位权限、手机定位（GPS）是否打开、网络是否正常、"
        "系统版本是否过旧。仍不行可换一部手机（如家人的），或输入地址（标记为未核验），"
        "或请本单位负责审核的老师代为填报。\n"
        "· 身在国外无需定位，只需告诉我们所在国家，之后会记住。",
        "FAQ\n"
        "- You don't need the WeCom app: use the bot inside WeChat. With the app installed, "
        "messages go to the app and WeChat may miss reminders. If you can't see cards in "
        "WeChat, reply \"text\" to get plain-text questions.\n"
        "- Left the enterprise by mistake: unbind and log out, then scan the QR code and "
        "follow again.\n"
        "- GPS failed: check the location permission of WeChat/WeCom, that GPS is on, "
        "your network, and that your system is not too old. Otherwise use another phone "
        "(a family member's), type your address (marked unverified), or ask your unit's "
        "reviewer to report on your behalf.\n"
        "- Abroad: no location needed; just tell us the country once and we'll remember it.",
    ),
    "cmd.unknown": (
        "没有看懂这条消息。回复“上报”开始今日上报，回复“帮助”查看全部命令。",
        "Sorry, I didn't understand that. Reply \"report\" to file today's report, or "
        "\"help\" for all commands.",
    ),
    "error.retry": (
        "抱歉，系统暂时出了点问题，请稍后再试。",
        "Sorry, something went wrong on our side. Please try again in a moment.",
    ),
    "privacy.notice": (
        "【隐私告知 第{version}版】使用疫情通前请阅读：\n"
        "· 收集什么：{collected}。\n"
        "· 为什么：学校依法开展校园疫情防控。\n"
        "· 谁能看到：您所在单位的审核老师和学校管理员；异常情况会提醒审核老师。\n"
        "· 保存多久：精确位置保存 {days} 天后只保留省/市/区；上报记录按学校规定保存。\n"
        "· 您的权利：可通过审核老师或学校管理员查询、导出您的全部数据，离校后可申请删除。",
        "[Privacy notice, version {version}] Before you use the bot:\n"
        "- What: {collected}.\n"
        "- Why: the university's duty to prevent epidemics on campus.\n"
        "- Who sees it: your unit's reviewers and the university's administrators; abnormal "
        "reports alert your reviewers.\n"
        "- How long: precise locations for {days:@day|days}, then only province/city/district; "
        "reports as the university's rules say.\n"
        "- Your rights: ask your reviewer or an administrator for a copy of everything stored "
        "about you, or to erase it when you leave.",
    ),
    "privacy.notice.reply": (
        "回复「同意」表示您已阅读并同意（回复「帮助」了解更多）。",
        "Reply \"agree\" to accept (\"help\" for more).",
    ),
    "privacy.notice.web": (
        "点击「同意」表示您已阅读并同意，之后才能填写下面的表单。",
        "Press \"Agree\" to accept; the forms below open once you have.",
    ),
    "privacy.accepted": (
        "感谢您的确认。",
        "Thank you for accepting.",
    ),
    "privacy.declined": (
        "您没有同意隐私告知。同意之前，疫情通不会收集或保存您的任何信息，也无法为您办理上报；"
        "每日健康上报是学校的要求，如有疑问请联系本单位审核老师。想好后随时回复「同意」即可开始。",
        "You have not accepted the privacy notice. Until you do, Yiqingtong collects and stores "
        "nothing about you and cannot take your reports; the daily health report is a "
        "university requirement, so please ask your unit's reviewer if you have questions. "
        "Reply \"agree\" whenever you are ready to start.",
    ),
    "privacy.help": (
        "疫情通需要您先阅读并同意上方的隐私告知，才能收集您的基本信息和每日上报。"
        "回复「同意」表示同意；回复「取消」表示暂不同意；回复“English”或“中文”切换语言。"
        "对告知内容有疑问，请联系本单位审核老师或学校管理员。",
        "Yiqingtong needs you to read and accept the privacy notice above before it collects "
        "your basic information and daily reports. Reply \"agree\" to accept, \"cancel\" to "
        "decline for now, \"Chinese\" or \"English\" to switch language. Questions about the "
        "notice: ask your unit's reviewer or an administrator.",
    ),
    "privacy.card_title": ("隐私告知 第{version}版", "Privacy notice, version {version}"),
    "privacy.card_subtitle": (
        "请阅读上方的隐私告知，同意后才能使用疫情通。",
        "Please read the privacy notice above; you can use the bot once you accept it.",
    ),
    "privacy.agree_button": ("同意", "Agree"),
    "privacy.decline_button": ("不同意", "Decline"),
    "privacy.agreed_button": ("已同意", "Accepted"),
    "limit.slow_down": (
        "您发送得太快了，一分钟内的后续消息将不会处理，请稍后再试。",
        "You are sending messages too fast; the rest of this minute's messages are ignored. "
        "Please try again in a minute.",
    ),
    "rendering.text": (
        "已切换为纯文字提问：回复选项前的序号即可作答。回复“卡片”可换回卡片。",
        "Switched to plain-text questions: reply with the option number. Reply \"cards\" to "
        "switch back.",
    ),
    "rendering.cards": (
        "已切换为卡片提问（需在企业微信中查看）。微信里看不到卡片时请回复“文字”。",
        "Switched to card questions (shown in the WeCom client). If you can't see them in "
        "WeChat, reply \"text\".",
    ),
    "rendering.card_sent": (
        "已用卡片回复（需在企业微信中查看）。微信里看不到卡片时请回复“文字”改用纯文字提问。",
        "Answered with a card (shown in the WeCom client). If you can't see it in WeChat, "
        "reply \"text\" for plain-text questions.",
    ),
    "lang.zh": ("已切换为中文（附英文）。", "Switched to Chinese (with English)."),
    "lang.en": ("已切换为英文。", "Switched to English."),
    # ---- handlers: roster, basic info ------------------------------------------------------
    "roster.not_found": (
        "在学校花名册中没有找到您的账号（{userid}），暂时无法上报。请联系本单位负责老师。",
        "Your account ({userid}) is not in the university roster, so you can't report yet. "
        "Please contact your unit's administrator.",
    ),
    "info.required": (
        "请先填写基本信息（只需填写一次），之后即可每日上报。",
        "Please fill in your basic information first (once only); then you can report daily.",
    ),
    "info.saved": (
        "基本信息已提交（{time}）。以后每天回复“上报”即可完成健康上报。",
        "Basic information submitted ({time}). From now on, reply \"report\" each day to file "
        "your health report.",
    ),
    "info.shown": (
        "您的基本信息（{date} 提交）：",
        "Your basic information (submitted {date}):",
    ),
    "info.already": (
        "您已于 {date} 提交基本信息，基本信息只能填写一次，不能修改。"
        "如确需更正，请联系本单位负责老师。",
        "You submitted your basic information on {date}. It can be filled in only once and "
        "cannot be changed; if a correction is needed, contact your unit's administrator.",
    ),
    # ---- handlers: reports, receipts, status -------------------------------------------------
    "report.already": (
        "今日已上报 {time}（回执号 {receipt}），每天只能提交一次。",
        "Already reported today at {time} (receipt {receipt}). One report a day.",
    ),
    "report.already_by": (
        "今日已上报 {time}，由 {by} 代为提交（回执号 {receipt}），每天只能提交一次。",
        "Already reported today at {time}, filed for you by {by} (receipt {receipt}). One "
        "report a day.",
    ),
    "report.receipt": (
        "上报成功！日期：{date}，时间：{time}，回执号：{receipt}",
        "Report received. Date: {date}, time: {time}, receipt: {receipt}",
    ),
    "report.filed_for_started_day": (
        "这份上报开始于 {date}，午夜后不久提交，已计入 {date}；{today} 的上报请另行填写。",
        "This report was started on {date} and sent just after midnight, so it was filed for "
        "{date}; {today} still needs its own report.",
    ),
    "status.reported": (
        "{date} 已上报：{time}，由 {by} 提交，回执号 {receipt}。",
        "Reported for {date} at {time} by {by}, receipt {receipt}.",
    ),
    "status.not_yet_open": (
        "{date} 还没有上报：您的“{form}”已开始填写，还没有提交。请接着回答：",
        "Not reported yet for {date}: your {form} is started but not submitted. Please go on:",
    ),
    "status.not_yet": (
        "{date} 还没有上报。回复“上报”开始。",
        "Not reported yet for {date}. Reply \"report\" to start.",
    ),
    "card.stale": (
        "这张卡片已失效，没有做任何更改。请按最新的消息作答。",
        "This card is no longer active; nothing was changed. Please answer the latest message.",
    ),
    "card.stale_reask": (
        "这张卡片已过期（是之前的问题），没有做任何更改。当前的问题如下：",
        "This card is out of date (an earlier question); nothing was changed. The current "
        "question is:",
    ),
    "card.not_yours": (
        "这张卡片不是发给您的，没有做任何更改。",
        "This card was not sent to you; nothing was changed.",
    ),
    "card.chosen": ("已选择：{choice}", "Chosen: {choice}"),
    "card.submitted": ("已提交", "Submitted"),
    # ---- handlers: proxy reporting (代填) ------------------------------------------------------
    "proxy.notified": (
        "已通知本单位审核老师 {reviewer} 为您代填今日上报。",
        "Your unit's reviewer {reviewer} has been asked to file today's report for you.",
    ),
    "proxy.no_reviewer": (
        "您所在单位暂未设置审核老师，无法代填。请换一部手机发送位置，或输入地址上报。",
        "Your unit has no reviewer yet, so nobody can report for you. Please send your "
        "location from another phone, or type your address.",
    ),
    "proxy.request_to_reviewer": (
        "{name}（{userid}）无法获取定位，请求您代为填报 {date} 的每日上报。"
        "回复“代报 {userid}”开始代填。",
        "{name} ({userid}) cannot get a location fix and asks you to file the daily report "
        "for {date} on their behalf. Reply \"proxy {userid}\" to start.",
    ),
    "proxy.request_card_title": ("代填请求", "Report request"),
    "proxy.request_card_body": (
        "{name}（{userid}）无法获取定位，请求您代为填报 {date} 的每日上报。"
        "点“代报”开始代填，或回复“代报 {userid}”。",
        "{name} ({userid}) cannot get a location fix and asks you to file the daily report "
        "for {date}. Tap \"Report\" to start, or reply \"proxy {userid}\".",
    ),
    "proxy.request_button": ("代报", "Report"),
    "proxy.request_done": (
        "{name}（{userid}）的代填请求已由 {by} 完成，无需再代填。",
        "The request of {name} ({userid}) has been handled by {by}; no need to report for them.",
    ),
    "proxy.filed_for_you": (
        "{by} 已为您代填 {date} 的每日上报（{time}，回执号 {receipt}）。"
        "如有错误，请联系该老师。",
        "{by} filed your daily report for {date} on your behalf ({time}, receipt {receipt}). "
        "If anything is wrong, please contact them.",
    ),
    "proxy.your_form_stopped": (
        "您正在填写的 {date} 每日上报已停止：{by} 已为您填报，无需再填。",
        "The daily report for {date} you were filling in has been stopped: {by} filed it for "
        "you, so there is nothing more to do.",
    ),
    # ---- handlers: reminders and alerts (scheduler) -------------------------------------------
    "remind.daily": (
        "您今天（{date}）还没有健康上报，回复“上报”即可开始。",
        "You haven't filed today's ({date}) health report yet. Reply \"report\" to start.",
    ),
    "remind.daily_no_info": (
        "您今天（{date}）还没有健康上报。您还没有填写基本信息：上报前先填基本信息（只需一次），"
        "填完直接开始今天的上报。",
        "You haven't filed today's ({date}) health report. You haven't filled in your basic "
        "information yet: it comes first (once only), then today's report starts.",
    ),
    "remind.daily_no_info.card": (
        "您今天（{date}）还没有健康上报。您还没有填写基本信息：点“立即上报”先填基本信息"
        "（只需一次），填完直接开始今天的上报。",
        "You haven't filed today's ({date}) health report. You haven't filled in your basic "
        "information yet: tap \"Report now\" to fill it in first (once only), then today's "
        "report starts.",
    ),
    "remind.basic_info": (
        "您还没有填写基本信息，回复“信息”开始填写（只需一次）。",
        "You haven't filled in your basic information yet. Reply \"info\" to start (once only).",
    ),
    "alert.abnormal": (
        "异常提醒：{name}（{userid}）{date} 的上报有异常：{reasons}。",
        "Alert: the report of {name} ({userid}) for {date} needs attention: {reasons}.",
    ),
    "alert.text_ack": (
        "异常编号 #{number}。处理后请回复“确认 {number}”。",
        "Alert #{number}. Reply \"ack {number}\" once you have followed up.",
    ),
    "alert.title": ("异常上报提醒", "Abnormal report"),
    "alert.card_body": (
        "异常 #{number}：{name}（{userid}）· {unit} · {reasons} · {time}",
        "Alert #{number}: {name} ({userid}) · {unit} · {reasons} · {time}",
    ),
    "alert.ack_button": ("已知悉", "Acknowledge"),
    "alert.ack_done_button": ("已确认", "Done"),
    "alert.acknowledged": (
        "已确认异常 #{number}（{name}），已记录。",
        "Alert #{number} ({name}) acknowledged and recorded.",
    ),
    "alert.already_acknowledged": (
        "异常 #{number} 已由 {by} 于 {time} 确认。",
        "Alert #{number} was already acknowledged by {by} at {time}.",
    ),
    "alert.unknown": (
        "没有找到您可处理的异常 #{number}，没有做任何更改。",
        "No alert #{number} that you can acknowledge; nothing was changed.",
    ),
    "remind.again": (
        "再次提醒：您今天（{date}）还没有健康上报，请尽快完成。",
        "Second reminder: today's ({date}) health report is still missing. Please file it "
        "soon.",
    ),
    "remind.card_title": ("今日健康上报", "Today's health report"),
    "remind.now.card": (
        "{by} 提醒您：今天（{date}）还没有健康上报，点“立即上报”即可开始。",
        "{by} reminds you: today's ({date}) health report isn't filed yet. Tap \"Report now\" "
        "to start.",
    ),
    "remind.daily.card": (
        "您今天（{date}）还没有健康上报，点“立即上报”即可开始。",
        "You haven't filed today's ({date}) health report yet. Tap \"Report now\" to start.",
    ),
    "remind.button_report": ("立即上报", "Report now"),
    "remind.button_same": ("同昨日", "As yesterday"),
    "remind.text_report": (
        "回复 1 立即上报（或回复“上报”）。",
        "Reply 1 to report now (or \"report\").",
    ),
    "remind.text_same": (
        "回复 1 立即上报 / 2 与昨日相同（定位后一键提交）。",
        "Reply 1 Report now / 2 Same as yesterday (one tap after your location).",
    ),
    "report.offer": (
        "您今天还没有上报，回复“上报”开始。",
        "You haven't reported today. Reply \"report\" to start.",
    ),
    "cmd.nothing_to_cancel": (
        "当前没有正在填写的表单。",
        "There is no form in progress.",
    ),
    "cmd.nothing_to_continue": (
        "当前没有正在填写的表单。回复“上报”开始今天的上报。",
        "There is no form in progress. Reply \"report\" to start today's report.",
    ),
    "input.too_long": (
        "消息太长（超过 {limit} 字），没有做任何更改。",
        "That message is too long (over {limit} characters); nothing was changed.",
    ),
    "msg.unsupported": (
        "暂不支持图片、语音、视频和文件，请用文字回复。",
        "Images, voice, video and files aren't supported; please reply with text.",
    ),
    "loc.no_form": (
        "已收到位置。需要上报时回复“上报”，上报中发送的位置才会被使用。",
        "Location received. Reply \"report\" to start your report; locations are used "
        "while you are reporting.",
    ),
    # ---- the app menu (names: 16 bytes at the top level, 40 below) -------------------------
    "menu.report": ("上报", "Report"),
    "menu.status": ("状态", "Status"),
    "menu.more": ("更多", "More"),
    "menu.info": ("基本信息", "Basic info"),
    "menu.help": ("帮助", "Help"),
    "menu.text": ("文字提问", "Plain text"),
    "menu.cards": ("卡片提问", "Cards"),
    # ---- handlers: reviewers --------------------------------------------------------------
    "proxy.not_reviewer": (
        "只有本单位的审核老师可以代填报。",
        "Only a unit's reviewer can report on behalf of a member.",
    ),
    "proxy.usage": (
        "请回复“代报 学工号”（或企业微信账号、姓名），例如：代报 20210001",
        "Reply \"proxy ID\" (student/staff ID, WeCom account or name), e.g. proxy 20210001",
    ),
    "proxy.bad_userid": (
        "请输入学工号、企业微信账号或姓名（文字、数字和 . _ @ - ·），没有做任何更改。",
        "Type an ID, a WeCom account or a name (letters, digits and . _ @ - ·); nothing was "
        "changed.",
    ),
    "proxy.finish_current_first": (
        "请先完成或取消当前正在填写的表单：您正在为 {member} 填写“{form}”，还没有提交。"
        "请填完并提交，或回复“取消”放弃（已填的答案不会保存），然后再发这条命令。",
        "Please finish or cancel the form you are filling in first: the {form} for {member} "
        "is not submitted yet. Finish and submit it, or reply \"cancel\" to discard it (the "
        "answers given so far are not kept), then send this command again.",
    ),
    "form.paused": (
        "您自己的“{form}”已暂停并保存；这次代填提交或取消后，会接着问您自己的表单。",
        "Your own form ({form}) is paused and kept; it comes back once this one is submitted "
        "or cancelled.",
    ),
    "form.waiting": (
        "（您自己的“{form}”还没有填完，已保存；回复“上报”接着填。）",
        "(Your own form ({form}) is not finished; it is kept. Reply \"report\" to go on.)",
    ),
    "form.waiting_proxy": (
        "（为 {member} 填写的“{form}”还没有提交，已保存；回复“上报”接着填。）",
        "(The form ({form}) for {member} is not submitted yet; it is kept. Reply \"report\" "
        "to go on.)",
    ),
    "form.resumed": (
        "接着填写您自己的“{form}”：",
        "Back to your own form ({form}):",
    ),
    "proxy.no_such_member": (
        "在您负责审核的单位中没有找到“{query}”。请输入学生的学工号、企业微信账号或姓名。",
        "No one called \"{query}\" in the units you review. Type the student/staff ID, the "
        "WeCom account or the name.",
    ),
    "proxy.choose": (
        "“{query}”对应多位成员，请回复其中一条“代报 …”：",
        "Several members match \"{query}\"; reply with one of these \"proxy …\" lines:",
    ),
    "proxy.choose_line": (
        "{name}（学工号 {staff_no}）：代报 {userid}",
        "{name} (ID {staff_no}): proxy {userid}",
    ),
    "member.choose": (
        "“{query}”对应多位成员，请改用其中一位的学工号或账号重新输入：",
        "Several members match \"{query}\"; type the command again with one of these IDs or "
        "accounts:",
    ),
    "member.choose_line": (
        "{name}（学工号 {staff_no}，账号 {userid}）",
        "{name} (ID {staff_no}, account {userid})",
    ),
    "proxy.already_reported": (
        "{name} 今天已上报：{time}，由 {by} 提交（回执号 {receipt}）。",
        "{name} already reported today at {time}, filed by {by} (receipt {receipt}).",
    ),
    # ---- handlers: a reviewer's day (补报, 免报, 提醒) and notices ------------------------------
    "late.not_reviewer": (
        "只有审核老师可以为本单位成员补报；成员不能补报过去的日子。",
        "Only a unit's reviewer can file a past day for a member; members can't back-date.",
    ),
    "late.usage": (
        "请回复“补报 学工号 日期 原因”，例如：补报 20210001 2026-11-29 住院无法使用手机",
        "Reply \"late USERID YYYY-MM-DD REASON\", e.g. late 20210001 2026-11-29 in hospital",
    ),
    "late.bad_date": (
        "“{value}”不是日期，请写成 年-月-日（如 2026-11-29）、月-日（如 11-29）或“昨天”、"
        "“前天”。没有做任何更改。",
        "\"{value}\" is not a date; write YYYY-MM-DD (e.g. 2026-11-29), MM-DD (e.g. 11-29), "
        "or \"yesterday\". Nothing was changed.",
    ),
    "late.reason_required": (
        "补报需要写明原因，例如：补报 20210001 2026-11-29 住院无法使用手机",
        "A late report needs a reason, e.g. late 20210001 2026-11-29 in hospital",
    ),
    "late.reason_too_long": (
        "原因最多 {max} 个字，没有做任何更改。",
        "The reason may be at most {max} characters; nothing was changed.",
    ),
    "late.not_past": (
        "补报只能补过去的日子（今天是 {today}）；今天的上报请用“代报”。",
        "A late report is for a past day (today is {today}); use \"proxy\" for today.",
    ),
    "late.too_old": (
        "只能补报最近 {days} 天内的日子。",
        "Only the last {days:@day|days} can be filed late.",
    ),
    "late.not_self": (
        "不能为自己补报过去的日子。",
        "You can't file a past day for yourself.",
    ),
    "late.already": (
        "{name} 在 {date} 已有上报，由 {by} 提交（回执号 {receipt}），无需补报。",
        "{name} already has a report for {date}, filed by {by} (receipt {receipt}).",
    ),
    "late.receipt": (
        "补报成功！{name} {date} 的健康上报，补报于 {filed}，回执号：{receipt}，原因：{reason}",
        "Late report filed. {name}, {date}, filed on {filed}, receipt: {receipt}. "
        "Reason: {reason}",
    ),
    "late.filed_for_you": (
        "{by} 于 {time} 为您补报了 {date} 的健康上报（回执号 {receipt}），原因：{reason}",
        "{by} filed your health report for {date} late at {time} (receipt {receipt}). "
        "Reason: {reason}",
    ),
    "exempt.not_reviewer": (
        "只有审核老师可以设置免报。",
        "Only a unit's reviewer can exempt members.",
    ),
    "exempt.usage": (
        "请回复“免报 学工号 开始日期 结束日期 原因”，例如：免报 20210001 2026-12-01 "
        "2026-12-20 请假回家",
        "Reply \"exempt USERID FROM TO REASON\", e.g. exempt 20210001 2026-12-01 "
        "2026-12-20 on leave",
    ),
    "exempt.reason_required": (
        "免报需要写明原因（请假、毕业、住院……），没有做任何更改。",
        "An exemption needs a reason (leave, graduated, in hospital...); nothing was changed.",
    ),
    "exempt.reason_too_long": (
        "原因最多 {max} 个字，没有做任何更改。",
        "The reason may be at most {max} characters; nothing was changed.",
    ),
    "exempt.bad_range": (
        "开始日期 {start} 晚于结束日期 {end}，没有做任何更改。",
        "The start {start} is after the end {end}; nothing was changed.",
    ),
    "exempt.too_long": (
        "一次免报最多 {days} 天，没有做任何更改。",
        "One exemption covers at most {days:@day|days}; nothing was changed.",
    ),
    "exempt.past": (
        "免报的结束日期已经过去（今天是 {today}）；过去的日子请用“补报”。",
        "That exemption would end in the past (today is {today}); use \"late\" for past days.",
    ),
    "exempt.not_self": (
        "不能为自己设置免报；请联系上级审核老师或管理员。没有做任何更改。",
        "You can't exempt yourself; ask a reviewer above you or an administrator. Nothing "
        "was changed.",
    ),
    "exempt.not_your_unit": (
        "{userid} 不在您负责审核的单位，不能设置免报。",
        "{userid} is not in a unit you review, so you can't exempt them.",
    ),
    "exempt.done": (
        "已为 {name}（{userid}）设置免报：{start} 至 {end}，原因：{reason}。期间不提醒、不计未报。",
        "{name} ({userid}) is exempt from {start} to {end} ({reason}): not reminded, not "
        "counted missing.",
    ),
    "exempt.told": (
        "{by} 为您设置了免报：{start} 至 {end}（{reason}），期间不会提醒您上报。",
        "{by} exempted you from reporting from {start} to {end} ({reason}); you won't be "
        "reminded meanwhile.",
    ),
    "remind.not_reviewer": (
        "只有审核老师可以提醒本单位成员。",
        "Only a unit's reviewer can remind members.",
    ),
    "remind.now": (
        "{by} 提醒您：今天（{date}）还没有健康上报，回复“上报”即可开始。",
        "{by} reminds you: today's ({date}) health report isn't filed yet. Reply \"report\" "
        "to start.",
    ),
    "remind.now_no_info": (
        "{by} 提醒您：今天（{date}）还没有健康上报。您还没有填写基本信息：回复“上报”先填"
        "基本信息（只需一次），填完直接开始今天的上报。",
        "{by} reminds you: today's ({date}) health report isn't filed yet. You haven't filled "
        "in your basic information yet: reply \"report\" to fill it in first (once only), then "
        "today's report starts.",
    ),
    "remind.now_no_info.card": (
        "{by} 提醒您：今天（{date}）还没有健康上报。您还没有填写基本信息：点“立即上报”先填"
        "基本信息（只需一次），再做今天的上报。",
        "{by}: today's ({date}) report is missing. Tap \"Report now\": your basic "
        "information first (once only), then the report.",
    ),
    "remind.now_done": (
        "{time} 已提醒 {count} 人；一小时内已提醒过的 {recent} 人这次跳过。",
        "{time}: {count:@member|members} reminded; {recent} already reminded in the last hour "
        "were skipped.",
    ),
    "remind.now_done_no_info": (
        "{time} 已提醒 {count} 人（其中 {no_info} 人还没有填写基本信息，已提醒其先填基本信息）；"
        "一小时内已提醒过的 {recent} 人这次跳过。",
        "{time}: {count:@member|members} reminded ({no_info} without basic information yet, "
        "told to fill it in first); {recent} already reminded in the last hour were skipped.",
    ),
    "remind.now_nobody": (
        "您负责的单位今天（{date}）需要上报的成员都已上报，无需提醒。",
        "Everyone due in your units has reported today ({date}); nobody to remind.",
    ),
    "reviewer.own_due": (
        "您本人今天（{date}）还没有上报：回复“上报”即可开始。",
        "You yourself haven't filed today's ({date}) report yet: reply \"report\" to start.",
    ),
    "reviewer.own_due_no_info": (
        "您本人今天（{date}）还没有上报，且还没有填写基本信息：回复“上报”先填基本信息"
        "（只需一次），填完直接开始今天的上报。",
        "You yourself haven't filed today's ({date}) report yet, and your basic information "
        "comes first: reply \"report\" to fill it in (once only), then today's report starts.",
    ),
    "notice.text": (
        "【通知 #{number}】{title}\n{body}",
        "[Notice #{number}] {title}\n{body}",
    ),
    "notice.reply_hint": (
        "读完请回复“已读 {number}”。",
        "When you have read it, reply \"read {number}\".",
    ),
    "notice.card_title": ("通知 #{number}", "Notice #{number}"),
    "notice.card_see_above": (
        "请阅读上面的通知，读完点“已读”。",
        "Please read the notice above, then press \"Read\".",
    ),
    "notice.read_button": ("已读", "Read"),
    "notice.read_done_button": ("已读 ✓", "Read ✓"),
    "notice.read": (
        "已记录：您已阅读通知 #{number}。",
        "Noted: you have read notice #{number}.",
    ),
    "notice.already_read": (
        "您已于 {time} 阅读通知 #{number}。",
        "You read notice #{number} at {time}.",
    ),
    "notice.unknown": (
        "没有发给您的通知 #{number}。",
        "There is no notice #{number} for you.",
    ),
    "notice.none_unread": (
        "您没有未读的通知。",
        "You have no unread notices.",
    ),
    "stats.not_reviewer": (
        "统计只对审核老师和管理员开放。",
        "Statistics are for reviewers and administrators.",
    ),
    "stats.empty": ("您负责的单位暂无成员。", "The units you review have no members yet."),
    "stats.header": ("{date} 上报统计", "Reports for {date}"),
    "stats.unit": (
        "【{unit}】共 {total} 人，已报 {reported}（本人 {self_count}，代填 {proxy_count}），"
        "未报 {missing}，异常 {abnormal}，未关注 {unfollowed}，未填基本信息 {no_info}",
        "[{unit}] {total:@member|members}, {reported} reported ({self_count} self, "
        "{proxy_count} on behalf), {missing} missing, {abnormal} abnormal, {unfollowed} not "
        "following, {no_info} without basic info",
    ),
    # Heads a page that carries on with a unit whose lines began on the previous page.
    "stats.unit_continued": ("【{unit}】（续）", "[{unit}] (continued)"),
    # Labels for name lists: the names follow once, not once per language.
    "stats.missing_names": ("未报", "Missing"),
    "stats.abnormal_names": ("异常", "Abnormal"),
    "stats.unfollowed_names": ("未关注", "Not following"),
    "stats.no_info_names": ("未填基本信息", "No basic info"),
    "stats.exempt_names": ("免报", "Exempt"),
    "stats.late_exempt": (
        "已报中补报 {late_count}；免报 {exempt}（不计入未报）",
        "{late_count} of the reported filed late; {exempt} exempt (not counted missing)",
    ),
    "stats.better": (
        "比昨天好：上报率 {rate}%（昨天 {previous}%）",
        "Better than yesterday: {rate}% reported (yesterday {previous}%)",
    ),
    "stats.worse": (
        "比昨天差：上报率 {rate}%（昨天 {previous}%）",
        "Worse than yesterday: {rate}% reported (yesterday {previous}%)",
    ),
    "stats.same": (
        "与昨天持平：上报率 {rate}%",
        "Same as yesterday: {rate}% reported",
    ),
    "admin.trend_header": ("近7日上报率", "Reporting over the last 7 days"),
    "admin.trend_unit": ("【{unit}】{spark} 今日 {rate}", "[{unit}] {spark} today {rate}"),
    "admin.summary_header": (
        "{date} 全校汇总：共 {total} 人，已报 {reported}，未报 {missing}，异常 {abnormal}",
        "{date} university summary: {total:@member|members}, {reported} reported, "
        "{missing} missing, {abnormal} abnormal",
    ),
    "admin.summary_unit": (
        "【{unit}】{reported}/{total}，异常 {abnormal}",
        "[{unit}] {reported}/{total}, {abnormal} abnormal",
    ),
    "reason.fever": ("发热", "fever"),
    "reason.symptoms": ("有症状", "symptoms"),
    "reason.contact": ("接触确诊/疑似病例", "contact with cases"),
    "reason.quarantine": ("隔离中", "in quarantine"),
    "reason.city_changed": ("所在城市变化", "city changed"),
    "reason.abroad_return": ("从国外返回", "returned from abroad"),
    # ---- forms --------------------------------------------------------------------------------
    "form.basic_info.title": ("基本信息", "Basic information"),
    "form.basic_info.intro": (
        "开始填写基本信息。基本信息只需填写一次，提交后不可修改，请认真核对。"
        "填写中可随时回复“上一步”“取消”“帮助”。",
        "Let's fill in your basic information. It is filled in only once and cannot be "
        "changed after submission, so please check it carefully. You can reply \"back\", "
        "\"cancel\" or \"help\" at any time.",
    ),
    "form.basic_info.note": (
        "注意：基本信息仅能填写一次，提交后不可修改。"
        "如有错误请联系本单位审核老师（管理员可更正）。",
        "Note: basic information can be filled in only once and cannot be changed after "
        "submission. If something is wrong, contact your unit's reviewer (an administrator "
        "can correct it).",
    ),
    "form.daily_report.title": ("每日上报", "Daily report"),
    "form.daily_report.intro": (
        "开始 {date} 的健康上报。填写中可随时回复“上一步”“取消”“帮助”。",
        "Starting your health report for {date}. You can reply \"back\", \"cancel\" or "
        "\"help\" at any time.",
    ),
    "form.daily_report.intro.proxy": (
        "开始为 {name}（{userid}）代填 {date} 的健康上报。填写中可随时回复“上一步”“取消”“帮助”。",
        "Starting {name}'s ({userid}) health report for {date} on their behalf. You can reply "
        "\"back\", \"cancel\" or \"help\" at any time.",
    ),
    "form.daily_report.intro.late": (
        "开始为 {name}（{userid}）补报 {date} 的健康上报（原因：{reason}）。以下问题都按 {date} "
        "当天的情况回答。填写中可随时回复“上一步”“取消”“帮助”。",
        "Starting a late report for {name} ({userid}) for {date} (reason: {reason}). Answer every "
        "question as things were on {date}. You can reply \"back\", \"cancel\" or \"help\" "
        "at any time.",
    ),
    "form.daily_report.note": (
        "每天只能提交一次，提交后不可修改，请如实填写。",
        "One report a day; it cannot be changed after submission. Please answer truthfully.",
    ),
    # ---- questions: basic info ------------------------------------------------------------
    "q.name": ("请输入您的姓名。", "Please enter your name."),
    "q.name.prefilled": (
        "花名册中您的姓名：{value}\n无误请确认；有误请直接输入正确的姓名。",
        "Your name in the roster: {value}\nConfirm it, or type the correct name if it's wrong.",
    ),
    "q.staff_no": ("请输入您的学工号。", "Please enter your student/staff ID."),
    "q.staff_no.prefilled": (
        "花名册中您的学工号：{value}\n无误请确认；有误请直接输入正确的学工号。",
        "Your student/staff ID in the roster: {value}\nConfirm it, or type the correct ID if "
        "it's wrong.",
    ),
    "q.mobile": (
        "请输入您的手机号（11 位大陆手机号；境外手机号请带 + 和国家代码，如 +34 612 345 678）。",
        "Please enter your mobile number (an 11-digit mainland China number, or an "
        "international number with + and the country code, e.g. +34 612 345 678).",
    ),
    "q.beijing_hukou": (
        "您是否为北京户籍（京籍）？",
        "Is your hukou (household registration) in Beijing?",
    ),
    "q.hukou_address": (
        "请输入您的户籍地址（省、市、区县；境外人员请填写国家和城市）。",
        "Please enter your hukou address (household registration: province, city, district; "
        "if it is outside China, the country and city).",
    ),
    "q.member_type": ("您的身份是？", "Are you a student, faculty or staff?"),
    # ---- questions: daily report ------------------------------------------------------------
    "q.city_changed_reason.unknown": (
        "您所在的城市与上次上报不同，请简要说明原因。",
        "Your city differs from your last report. Please briefly say why.",
    ),
    "q.on_campus": ("您今天是否在校？", "Are you on campus today?"),
    "q.on_campus.proxy": ("{member} 今天是否在校？", "Is {member} on campus today?"),
    "q.on_campus.late": (
        "{date} 当天 {member} 是否在校？", "Was {member} on campus on {date}?"),
    "q.temperature.proxy": (
        "请输入 {member} 今天的体温（℃），例如 36.5。",
        "Please enter {member}'s body temperature today in °C, e.g. 36.5.",
    ),
    "q.temperature.late": (
        "请输入 {member} {date} 的体温（℃），例如 36.5。",
        "Please enter {member}'s body temperature on {date} in °C, e.g. 36.5.",
    ),
    "q.symptoms.proxy": (
        "{member} 今天是否有以下症状？（可多选）",
        "Does {member} have any of these symptoms today? (choose all that apply)",
    ),
    "q.symptoms.late": (
        "{date} 当天 {member} 是否有以下症状？（可多选）",
        "Did {member} have any of these symptoms on {date}? (choose all that apply)",
    ),
    "q.contact.proxy": (
        "{member} 是否接触过确诊或疑似病例？",
        "Has {member} been in contact with confirmed or suspected cases?",
    ),
    "q.quarantine.proxy": ("{member} 目前是否在隔离？", "Is {member} in quarantine at the moment?"),
    "q.quarantine.late": (
        "{date} 当天 {member} 是否在隔离？", "Was {member} in quarantine on {date}?"),
    "q.city_changed_reason.proxy": (
        "{member} 所在的城市与上次上报不同（{previous} → {current}），请简要说明原因。",
        "{member}'s city differs from the last report ({previous} → {current}). Please "
        "briefly give the reason.",
    ),
    "q.temperature": (
        "请输入您今天的体温（℃），例如 36.5。",
        "Please enter today's body temperature in °C, e.g. 36.5.",
    ),
    "q.symptoms": (
        "您今天是否有以下症状？（可多选）",
        "Do you have any of these symptoms today? (choose all that apply)",
    ),
    "q.symptom_other": (
        "请简要描述其他症状（50 字以内）。",
        "Please briefly describe the other symptoms (up to 50 characters).",
    ),
    "q.contact": (
        "您是否接触过确诊或疑似病例？",
        "Have you been in contact with confirmed or suspected cases?",
    ),
    "q.quarantine": ("您目前是否在隔离？", "Are you in quarantine at the moment?"),
    "q.quarantine_start": (
        "隔离从哪天开始？如 {example_day}（月-日），或“今天”“昨天”。",
        "When did the quarantine start? E.g. {example_day} (month-day), \"today\" or "
        "\"yesterday\".",
    ),
    "q.city_changed_reason": (
        "您所在的城市与上次上报不同（{previous} → {current}），请简要说明原因。",
        "Your city differs from your last report ({previous} → {current}). Please briefly "
        "give the reason.",
    ),
    "q.remarks": (
        "还有其他需要说明的吗？没有请回复“无”。",
        "Anything else to add? Reply \"none\" if not.",
    ),
    # ---- options ---------------------------------------------------------------------------
    "opt.yes": ("是", "Yes"),
    "opt.no": ("否", "No"),
    "opt.confirm": ("确认", "Confirm"),
    "opt.student": ("学生", "Student"),
    "opt.faculty": ("教师", "Faculty"),
    "opt.staff": ("职工", "Staff"),
    "opt.on_campus": ("在校", "On campus"),
    "opt.off_campus": ("不在校", "Off campus"),
    "opt.symptom.none": ("无", "None"),
    "opt.symptom.fever": ("发热", "Fever"),
    "opt.symptom.cough": ("咳嗽", "Cough"),
    "opt.symptom.fatigue": ("乏力", "Fatigue"),
    "opt.symptom.sore_throat": ("咽痛", "Sore throat"),
    "opt.symptom.other": ("其他", "Other"),
    "opt.quarantine.none": ("未隔离", "No quarantine"),  # both fit a button (QA2 #8)
    "opt.quarantine.home": ("居家隔离", "Home"),
    "opt.quarantine.centralised": ("集中隔离", "Centralised"),
    "opt.submit": ("提交", "Submit"),
    "opt.edit": ("修改", "Edit"),
    # Buttons: both languages must fit one (QA2 #8); the question says "as yesterday".
    "opt.same": ("与昨日相同", "Same"),
    "opt.again": ("重新填写", "Fill again"),
    "opt.continue": ("继续", "Continue"),
    "opt.restart": ("重新开始", "Start over"),
    "opt.loc.failed": ("定位失败", "GPS failed"),
    "opt.loc.abroad": ("在国外", "Abroad"),
    "opt.loc.retry": ("重新定位", "Send again"),
    "opt.loc.type": ("输入地址", "Address"),
    "opt.loc.proxy": ("请老师代填", "Reviewer"),
    "opt.loc.still": ("仍在该国", "Still there"),
    "opt.loc.change": ("更改", "Change"),
    "opt.loc.unknown": ("不详", "Unknown"),
    "opt.proxy.phone_fails": ("手机无法定位", "No GPS"),
    "opt.proxy.no_phone": ("没有手机", "No phone"),
    "opt.proxy.other": ("其他原因", "Other"),
    # ---- field labels (summaries, receipts, the edit list) ----------------------------------
    "field.name": ("姓名", "Name"),
    "field.staff_no": ("学工号", "Student/Staff ID"),
    "field.mobile": ("手机号", "Mobile"),
    "field.beijing_hukou": ("是否京籍", "Beijing hukou"),
    "field.hukou_address": ("户籍地址", "Hukou address"),
    "field.proxy_reason": ("代填原因", "Why filed for them"),
    "field.member_type": ("身份", "Member type"),
    "field.location": ("位置", "Location"),
    "field.on_campus": ("是否在校", "On campus"),
    "field.temperature": ("体温", "Temperature"),
    "field.symptoms": ("症状", "Symptoms"),
    "field.symptom_other": ("其他症状", "Other symptoms"),
    "field.contact": ("接触病例", "Contact"),
    "field.quarantine": ("隔离", "Quarantine"),
    "field.quarantine_start": ("隔离开始", "Quarantine since"),
    "field.city_changed_reason": ("城市变动原因", "City change reason"),
    "field.remarks": ("备注", "Remarks"),
    "value.empty": ("无", "none"),
    "value.proxy_on_web": ("网页代填", "filed on the web"),
    "value.unverified": ("{place}（未核验 unverified）", "{place} (unverified)"),
    "value.abroad": ("在国外 Abroad：{country}", "Abroad: {country}"),
    "value.unknown": ("不详 Unknown：{reason}", "Unknown: {reason}"),
    "unit.celsius": ("℃", "°C"),
    # ---- the conversation engine ------------------------------------------------------------
    "conv.cancelled": (
        "已取消本次填写，没有保存任何内容。",
        "Cancelled. Nothing was saved.",
    ),
    "conv.at_start": ("已经是第一题了。", "This is already the first question."),
    "conv.going_on": (
        "表单继续填写，请回答当前问题。",
        "The form goes on: please answer the current question.",
    ),
    "conv.restarted": (
        "已重新开始，之前的回答已清除。",
        "Started over: your earlier answers are cleared.",
    ),
    "conv.location_not_now": (
        "现在还不需要位置，请先回答当前问题。",
        "No location is needed right now; please answer the current question.",
    ),
    "conv.timed_out": (
        "您的“{form}”还没填完，要从上次停下的地方继续吗？",
        "You haven't finished \"{form}\". Continue where you left off?",
    ),
    "conv.new_day": (
        "已经是新的一天（{today}）：{date} 的上报没有提交，已无法计入 {date}，今天的上报重新开始。",
        "It's a new day ({today}): the report for {date} was not submitted and can no longer be "
        "filed for {date}, so today's report starts afresh.",
    ),
    "conv.new_day_kept": (
        "已经是新的一天（{today}）：{date} 的上报没有提交，已无法计入 {date}。"
        "已为您保留填写过的内容（位置除外），请确认今天的位置，核对后提交 {today} 的上报。",
        "It's a new day ({today}): the report for {date} was not submitted and can no longer be "
        "filed for {date}. Your answers are kept (except the location): confirm today's "
        "location, check them and submit the report for {today}.",
    ),
    "conv.form_updated": (
        "问卷内容已更新，请重新填写。",
        "The questions have been updated; please start again.",
    ),
    "conv.summary": ("请核对您的{form}：", "Please check your answers ({form}):"),
    "conv.summary.proxy": ("请核对 {member} 的{form}：", "Please check {member}'s {form}:"),
    "conv.summary.late": (
        "请核对 {member} {date} 的补报（原因：{reason}）：",
        "Please check the late report for {member} for {date} (reason: {reason}):",
    ),
    "conv.confirm": (
        "确认无误请提交；需要更改请选“修改”。",
        "Submit if everything is correct, or choose \"Edit\" to change something.",
    ),
    "conv.repeat_summary": ("您昨天的上报：", "Your report yesterday:"),
    "conv.repeat_summary.proxy": ("{member} 昨天的上报：", "{member}'s report yesterday:"),
    "conv.repeat_summary.late": (
        "{member} 前一天（{day_before}）的上报：",
        "{member}'s report of the day before ({day_before}):",
    ),
    "conv.repeat": (
        "今天的情况与昨天相同吗？位置按今天的为准。",
        "Is everything the same as yesterday? Today's location is used.",
    ),
    "conv.edit": ("请选择要修改的项目。", "Which item do you want to change?"),
    "conv.repeat.proxy": (
        "{member} 今天的情况与昨天相同吗？位置按今天的为准。",
        "Is everything the same for {member} as yesterday? Today's location is used.",
    ),
    "conv.repeat.late": (
        "{member} {date} 的情况与前一天（{day_before}）相同吗？位置按 {date} 的为准。",
        "Was everything the same for {member} on {date} as the day before ({day_before})? "
        "The location of {date} is used.",
    ),
    "conv.stuck": (
        "好像遇到了困难。可以回复“帮助”查看这一题的说明，或回复“取消”稍后再填；"
        "也可以请本单位的审核老师（{helpers}）帮忙，老师可以代为上报。",
        "Having trouble? Reply \"help\" for this question's instructions, or \"cancel\" to "
        "try later; your unit's reviewer {helpers} can also help (and can report for you).",
    ),
    "conv.stuck_location": (
        "位置发不出去？回复“定位失败”查看排查步骤，也可以输入地址；"
        "或者请本单位的审核老师（{helpers}）代为上报（在“定位失败”中选“请老师代填”）。",
        "Can't send your location? Reply \"failed\" for the checklist, where you can also "
        "type your address, or ask your unit's reviewer {helpers} to report for you.",
    ),
    "conv.proxy_tag": ("代 {member} 填报", "For {member}"),
    "hint.reply_options": ("回复 {options}", "Reply {options}"),
    "hint.reply_number": ("请回复序号。", "Reply with the number."),
    "hint.reply_numbers": (
        "请回复序号，可多选，如：2 3",
        "Reply with the numbers; several are allowed, e.g. 2 3",
    ),
    "hint.commands": (
        "可随时回复：上一步、取消、帮助",
        "You can reply at any time: back, cancel, help",
    ),
    "advice.fever": (
        "您的体温偏高（{temperature}℃）。请注意休息，必要时及时就医，并告知本单位负责老师。",
        "Your temperature is high ({temperature} °C). Please rest, see a doctor if needed, and "
        "tell your unit's contact person.",
    ),
    # ---- help for each question -------------------------------------------------------------
    "help.generic": (
        "请按提示作答。回复“上一步”回到上一题，回复“取消”放弃本次填写。",
        "Answer as prompted. Reply \"back\" for the previous question, or \"cancel\" to stop.",
    ),
    "help.q.name": (
        "姓名来自学校花名册。无误请确认，有误可直接输入正确的姓名（不含数字）。",
        "Your name comes from the university roster. Confirm it, or type the correct name "
        "(no digits).",
    ),
    "help.q.staff_no": (
        "学工号即学号或工号，来自学校花名册，3–20 位字母或数字，不加空格或短横线。",
        "Your student or staff ID, from the university roster: 3–20 letters or digits, "
        "without spaces or dashes.",
    ),
    "help.q.mobile": (
        "请输入 11 位大陆手机号，如 13812345678（可带 +86）；境外手机号请以 + 和国家代码开头，"
        "共 8–15 位数字，如 +34 612 345 678。可含空格或短横线。",
        "Enter an 11-digit mainland mobile number such as 13812345678 (+86 allowed), or an "
        "international number starting with + and the country code, 8–15 digits in all, e.g. "
        "+34 612 345 678. Spaces and dashes are fine.",
    ),
    "help.q.beijing_hukou": (
        "户口登记在北京市的选“是”，否则选“否”。",
        "Choose \"Yes\" if your household registration (hukou) is in Beijing, otherwise \"No\".",
    ),
    "help.q.hukou_address": (
        "户口本上登记的地址，写到区县即可，如：河北省保定市竞秀区；境外人员填写本国住址的国家和城市，"
        "如：Madrid, Spain。",
        "The address in your household register, down to the district, e.g. 河北省保定市竞秀区; "
        "if you have no Chinese hukou, your home country and city, e.g. Madrid, Spain.",
    ),
    "help.q.member_type": (
        "学生选“学生”，教学科研人员选“教师”，其他教职工选“职工”。",
        "Students choose \"Student\", teaching and research staff \"Faculty\", other employees "
        "\"Staff\".",
    ),
    "help.q.location": (
        "点输入框旁的“+”→“位置”，发送当前位置即可；进入应用时也会自动获取位置。"
        "身在国外选“在国外”，无需定位；无法定位选“定位失败”，会有排查方法和其他办法。",
        "Tap \"+\" next to the input box, then \"Location\", and send your current location; "
        "entering the app also shares it. Abroad? Choose \"Abroad\": no location needed. "
        "Can't get a fix? Choose \"GPS failed\" for a checklist and other options.",
    ),
    "help.q.on_campus": (
        "今天在学校校园内（含校内宿舍）选“在校”。",
        "Choose \"On campus\" if you are on the university campus today (including dorms).",
    ),
    "help.q.temperature": (
        "用体温计测量后输入摄氏度数字，范围 35.0–42.0，如 36.5。",
        "Measure with a thermometer and enter the number in °C, between 35.0 and 42.0, "
        "e.g. 36.5.",
    ),
    "help.q.symptoms": (
        "可多选，用空格或逗号分隔序号，如 2 3；没有症状请选“无”（不能与其他项同选）。",
        "Choose all that apply, separating numbers with spaces or commas, e.g. 2 3. With no "
        "symptoms choose \"None\" (on its own).",
    ),
    "help.q.symptom_other": (
        "简单写明症状即可，如：流鼻涕。",
        "A few words are enough, e.g. runny nose.",
    ),
    "help.q.contact": (
        "与确诊或疑似病例有过近距离接触的选“是”。",
        "Choose \"Yes\" if you have been in close contact with a confirmed or suspected case.",
    ),
    "help.q.quarantine": (
        "未隔离选“未隔离”；在家隔离选“居家隔离”；在指定场所隔离选“集中隔离”。",
        "Choose \"None\", \"Home\" (quarantine at home) or \"Centralised\" (at a designated "
        "facility).",
    ),
    "help.q.quarantine_start": (
        "可回复 {example_day}（月-日）、年-月-日、今天、昨天；不能晚于今天，也不能早于 60 天前。",
        "Reply e.g. {example_day} (month-day), a year-month-day date, today or yesterday; not "
        "in the future and not more than 60 days ago.",
    ),
    "help.q.city_changed_reason": (
        "简要说明即可，如：放假回家、出差。",
        "A few words are enough, e.g. went home for the holidays, business trip.",
    ),
    "help.q.remarks": (
        "可写其他需要说明的情况；没有请回复“无”或“跳过”。",
        "Anything else worth mentioning; reply \"none\" or \"skip\" if not.",
    ),
    "help.confirm": (
        "选“提交”完成填写；选“修改”可更改任意一项，改完会回到这里。",
        "Choose \"Submit\" to finish, or \"Edit\" to change any item; you'll come back here "
        "afterwards.",
    ),
    "help.repeat": (
        "选“与昨日相同”会沿用昨天除位置外的全部回答，提交前还会给您核对；选“重新填写”逐项作答。",
        "\"Same as yesterday\" copies all of yesterday's answers except the location; you "
        "still check them before submitting. \"Fill in again\" asks each question.",
    ),
    "help.resume": (
        "选“继续”从上次停下的题目接着填；选“重新开始”从头填写。",
        "\"Continue\" picks up at the question where you stopped; \"Start over\" begins again.",
    ),
    "help.edit": (
        "回复要修改项目的序号，改完后会回到核对页面。",
        "Reply with the number of the item to change; you'll return to the summary afterwards.",
    ),
    # ---- the location step -------------------------------------------------------------------
    "loc.ask": (
        "请发送您当前的位置：点输入框旁的“+”，选“位置”并发送。身在国外无需定位。",
        "Please send your current location: tap \"+\" next to the input box, choose "
        "\"Location\" and send it. No location is needed if you are abroad.",
    ),
    "loc.confirm": (
        "您当前的位置：{place}\n是否正确？",
        "Your current location: {place}\nIs this correct?",
    ),
    "loc.checklist": (
        "获取位置失败时，请逐项检查：\n"
        "· 手机设置中已允许微信/企业微信使用位置信息；\n"
        "· 手机的定位服务（GPS）已打开；\n"
        "· 网络正常（可切换 Wi-Fi 或移动数据再试）；\n"
        "· 手机系统和微信/企业微信不是太旧的版本。\n"
        "仍无法定位，可以换一部手机（如家人的）发送位置。",
        "If your location can't be obtained, please check:\n"
        "- WeChat/WeCom is allowed to use location in your phone's settings;\n"
        "- location services (GPS) are on;\n"
        "- your network works (try switching between Wi-Fi and mobile data);\n"
        "- your phone system and WeChat/WeCom are not too old.\n"
        "If it still fails, you can send your location from another phone (e.g. a family "
        "member's).",
    ),
    "loc.failed": (
        "您也可以：重新定位、输入地址（标记为未核验），或请本单位审核老师代您填报。",
        "You can also: try again, type your address (marked unverified), or ask your unit's "
        "reviewer to report for you.",
    ),
    "loc.address": (
        "请输入您当前所在的地址（省、市、区县、街道），该地址将标记为“未核验”。",
        "Please type your current address (province, city, district, street). It will be "
        "marked as unverified.",
    ),
    "loc.abroad_again.proxy": (
        "{member} 仍在{country}吗？身在国外无需定位。",
        "Is {member} still in {country}? No location is needed abroad.",
    ),
    "loc.abroad_again.late": (
        "{date} 当天 {member} 仍在{country}吗？身在国外无需定位。",
        "Was {member} still in {country} on {date}? No location is needed abroad.",
    ),
    "loc.country.proxy": (
        "请输入 {member} 所在的国家或地区，如：日本。",
        "Type the country or region {member} is in, e.g. Japan.",
    ),
    "loc.country.late": (
        "请输入 {date} 当天 {member} 所在的国家或地区，如：日本。",
        "Type the country or region {member} was in on {date}, e.g. Japan.",
    ),
    "loc.abroad_again": (
        "您仍在{country}吗？身在国外无需定位。",
        "Are you still in {country}? No location is needed abroad.",
    ),
    "loc.country": (
        "身在国外无需定位。请输入您所在的国家或地区，如：日本。如已回国，请直接发送位置。",
        "No location is needed abroad. Please type the country or region you are in, e.g. "
        "Japan. If you are back in China, just send your location.",
    ),
    "loc.proxy_reason": (
        "为什么代 {member} 填报？",
        "Why are you reporting for {member}?",
    ),
    "loc.proxy_reason_other": (
        "请简要说明代填原因。",
        "Please briefly give the reason.",
    ),
    "loc.proxy_ask": (
        "请输入 {member} 当前所在的地址；在国外请选“在国外”，不清楚请选“不详”。",
        "Type the current address of {member}; choose \"Abroad\" if they are abroad, or "
        "\"Unknown\" if you don't know.",
    ),
    "loc.proxy_ask.late": (
        "请输入 {date} 当天 {member} 所在的地址；在国外请选“在国外”，不清楚请选“不详”。",
        "Type the address where {member} was on {date}; choose \"Abroad\" if they were "
        "abroad, or \"Unknown\" if you don't know.",
    ),
    "loc.unknown_reason": (
        "请简要说明为什么不清楚其位置。",
        "Please briefly explain why the location is unknown.",
    ),
    "loc.proxy_requested": (
        "好的，将请本单位负责审核的老师为您代填今日上报，代填后您会收到通知。",
        "OK. Your unit's reviewer will be asked to file today's report for you; you'll be "
        "notified when it's done.",
    ),
    # ---- validation errors -------------------------------------------------------------------
    "err.empty": ("没有收到内容，请重新回复。", "The answer was empty. Please reply again."),
    "err.too_long": (
        "内容太长了，请控制在 {max} 字以内。",
        "That's too long. Please keep it within {max} characters.",
    ),
    "err.control_chars": (
        "内容里有无法识别的字符，请重新输入。",
        "The answer contains characters that can't be used. Please type it again.",
    ),
    "err.choice": (
        "没有看懂您的选择，请回复选项前的序号。",
        "Sorry, I didn't understand that choice. Please reply with the option number.",
    ),
    "err.choice_range": (
        "没有这个序号，请回复 1 到 {count} 之间的序号。",
        "There is no such number. Please reply with a number from 1 to {count}.",
    ),
    "err.command_not_answer": (
        "“{word}”是命令，不能作为回答。请回答这一题；回复“帮助”查看说明。",
        "\"{word}\" is a command, not an answer. Please answer this question; reply \"help\" "
        "for instructions.",
    ),
    "err.answer_first": (
        "请先回答这一题；全部答完后会显示核对页面，再选“提交”。",
        "Please answer this question first; the summary with \"Submit\" comes after the "
        "last one.",
    ),
    "err.choice_emoji": (
        "请回复序号或选项文字，只发表情无法识别。",
        "Please reply with a number or the option's words; an emoji alone can't be read.",
    ),
    "err.choice_single": (
        "这一题只能选一项，请回复一个序号。",
        "Only one option can be chosen here. Please reply with one number.",
    ),
    "err.exclusive": (
        "“{option}”不能和其他选项同时选择。",
        "\"{option}\" can't be combined with other options.",
    ),
    "err.card_mismatch": (
        "这次点击和当前问题对不上，请重新选择。",
        "That click doesn't match the current question. Please choose again.",
    ),
    "err.temperature_format": (
        "请用数字输入体温，例如 36.5。",
        "Please enter the temperature as a number, e.g. 36.5.",
    ),
    "err.temperature_range": (
        "体温应在 {low}–{high}℃ 之间，请核对后重新输入，例如 36.5。",
        "The temperature must be between {low} and {high} °C. Please check and enter it "
        "again, e.g. 36.5.",
    ),
    "err.temperature_fahrenheit": (
        "{value} 像是华氏度，请输入摄氏度，例如 36.5。",
        "{value} looks like Fahrenheit. Please enter °C, e.g. 36.5.",
    ),
    "err.mobile": (
        "手机号格式不对：大陆手机号为 13–19 开头的 11 位数字，如 13812345678（可带 +86）；"
        "境外手机号请以 + 和国家代码开头，共 8–15 位数字，如 +34 612 345 678。",
        "That mobile number isn't valid. A mainland number is 11 digits starting with 13–19, "
        "e.g. 13812345678 (+86 allowed); an international number starts with + and the country "
        "code, 8–15 digits in all, e.g. +34 612 345 678.",
    ),
    "err.date_format": (
        "没有看懂这个日期，请写“月-日”（如 {example_day}）、“X月X日”，或“今天”“昨天”。",
        "Sorry, I couldn't read that date. Write month-day (e.g. {example_day}), \"today\" or "
        "\"yesterday\".",
    ),
    "err.date_future": (
        "日期不能晚于今天（{today}）。",
        "The date can't be after today ({today}).",
    ),
    "err.date_too_far": (
        "日期不能晚于 {latest}。",
        "The date can't be after {latest}.",
    ),
    "err.number_format": (
        "请输入一个数字，例如 2。",
        "Please enter a number, e.g. 2.",
    ),
    "err.number_range": (
        "请输入 {low} 到 {high} 之间的数字。",
        "Please enter a number from {low} to {high}.",
    ),
    "err.date_too_old": (
        "日期不能早于 {earliest}（{days} 天前）。",
        "The date can't be before {earliest} ({days:@day|days} ago).",
    ),
    "err.name": (
        "姓名应为 1–40 个字，不含数字，请重新输入。",
        "A name should be 1–40 characters without digits. Please type it again.",
    ),
    "err.staff_no": (
        "学工号应为 3–20 位字母或数字，请重新输入。",
        "The student/staff ID should be 3–20 letters or digits. Please type it again.",
    ),
    "err.staff_no_separators": (
        "学工号只含字母和数字，不加空格或短横线，例如 {staff_no}。请重新输入。",
        "A student/staff ID is letters and digits only, without spaces or dashes, e.g. "
        "{staff_no}. Please type it again.",
    ),
    "err.name_symbols": (
        "姓名中不能有表情或符号（{symbol}）。请只输入文字，可用 · - ' 和空格。",
        "A name can't contain emoji or symbols ({symbol}). Please type letters only; · - ' "
        "and spaces are fine.",
    ),
    "err.address_symbols": (
        "地址中不能有表情或符号（{symbol}）。请用文字和数字写明省、市、区县。",
        "An address can't contain emoji or symbols ({symbol}). Please write the province, "
        "city and district in words and numbers.",
    ),
    "err.country_symbols": (
        "国家或地区名称中不能有表情或符号（{symbol}）。请输入名称，如：日本。",
        "A country or region can't contain emoji or symbols ({symbol}). Please type its "
        "name, e.g. Japan.",
    ),
    "err.address": (
        "地址太简单了，请写明省、市、区县，如：北京市海淀区学院路37号。",
        "That address is too short. Please include the province, city and district, e.g. "
        "37 Xueyuan Road, Haidian District, Beijing.",
    ),
    "err.country": (
        "请输入国家或地区的名称，如：日本。",
        "Please type the name of a country or region, e.g. Japan.",
    ),
    "err.country_is_china": (
        "在国内请发送位置，而不是输入国家。",
        "You're in China: please send your location instead of a country.",
    ),
    "err.location_expected": (
        "请发送位置（“+”→“位置”），或选择“定位失败”或“在国外”。",
        "Please send your location (\"+\" → \"Location\"), or choose \"GPS failed\" or "
        "\"Abroad\".",
    ),
    "err.location_impossible": (
        "无法识别这个位置，请重新发送当前位置。",
        "That location can't be recognised. Please send your current location again.",
    ),
    "err.location_stale": (
        "这个位置信息已经过时，请重新发送当前位置。",
        "That location is out of date. Please send your current location again.",
    ),
    "err.proxy_typed_only": (
        "代填时请输入对方的地址，不使用您本人的位置。",
        "When reporting for someone else, type their address; your own location isn't used.",
    ),
    # ---- the web: member page /h5/ and the reviewers' dashboard ----------------------------------
    "web.h5.title": ("基本信息填报", "Basic information"),
    "web.h5.title.daily": ("每日健康上报", "Daily health report"),
    "web.tips.title": ("温馨提示", "Tips"),
    "web.tips": (
        "不外出、不聚集、不吃野味，戴口罩、勤洗手、咳嗽有礼，开窗通风，发热就诊。",
        "Reduce outdoor activities, avoid gatherings and wild animals, wear a mask, wash your "
        "hands often, cover coughs and sneezes, open windows for ventilation, and see a doctor "
        "if you have a fever.",
    ),
    "web.tab.daily": ("每日上报", "Daily report"),
    "web.tab.info": ("基本信息", "Basic info"),
    "web.submit": ("提交", "Submit"),
    "web.confirm_submit": ("确认提交", "Confirm and submit"),
    "web.info.confirm": (
        "请核对以下基本信息。基本信息提交后不可修改：无误请点击页面下方的「确认提交」；"
        "需要修改请在下方改正后再提交。",
        "Please check your basic information below. It cannot be changed once submitted: if "
        "it is right, press \"Confirm and submit\" at the bottom; otherwise correct it below "
        "and submit again.",
    ),
    "web.required": ("此项必填。", "This item is required."),
    "web.answer_needed": (
        "根据您上面的回答，还需要填写此项。",
        "Because of your answers above, this item is needed too.",
    ),
    "web.not_changeable": ("不可修改", "Cannot be changed"),
    "web.privacy_first": (
        "请先阅读并同意隐私告知，再填写表单。没有保存任何内容。",
        "Please read and accept the privacy notice before filling in a form. Nothing was saved.",
    ),
    "web.info_first": (
        "请先在“基本信息”中填写基本信息（只需填写一次），之后即可每日上报。",
        "Please fill in your basic information first (once only); then you can report daily.",
    ),
    "web.receipt": (
        "今日（{date}）已上报，{time} 提交，回执号 {receipt}。每日上报当日只可提交一次。",
        "Today's ({date}) report was filed at {time}, receipt {receipt}. One report a day.",
    ),
    "web.receipt_by": ("由 {by} 代为填报。", "Filed on your behalf by {by}."),
    "web.info_saved": ("基本信息已保存（{date}）。", "Basic information saved ({date})."),
    "web.loc.here": ("使用当前位置", "Use my current location"),
    "web.loc.locate": ("获取定位", "Get my location"),
    "web.loc.locating": ("正在定位……", "Locating..."),
    "web.loc.located": ("已获取定位", "Location obtained"),
    "web.loc.no_js": (
        "自动定位需要开启 JavaScript；也可选择下面的其他方式。",
        "Automatic location needs JavaScript; you can also choose another way below.",
    ),
    "web.loc.missing": (
        "还没有获取到定位。请点“获取定位”，或选择“在国外”/“定位失败”。",
        "No location yet. Tap \"Get my location\", or choose abroad or GPS failed.",
    ),
    "web.loc.abroad_here": (
        "定位显示您在国外，请选择“在国外”并填写国家或地区。",
        "Your location is abroad: choose \"I'm abroad\" and type the country or region.",
    ),
    "web.loc.country": ("国家或地区", "Country or region"),
    "web.loc.address": ("当前地址（未核验）", "Current address (unverified)"),
    "web.loc.reason": ("原因", "Reason"),
    "web.proxy_requested": (
        "已请本单位审核老师代您填报今日（{date}）的上报。",
        "Your unit's reviewer has been asked to file today's ({date}) report for you.",
    ),
    "web.started_in_chat": (
        "已带入您在对话中填写的内容。",
        "Answers you gave in the chat are filled in.",
    ),
    "web.same_as_yesterday": (
        "已按昨日的回答预先填好，请核对后提交。",
        "Yesterday's answers are filled in; please check them before submitting.",
    ),
    "web.language": ("English 英文", "中文 Chinese"),
    "web.sign_in_again": ("重新登录", "Sign in again"),
    "web.state_refused": (
        "登录请求无效或已过期（请从应用重新打开页面）。",
        "The sign-in request is invalid or has expired. Please open the page again.",
    ),
    "web.code_refused": (
        "企业微信没有确认您的身份（授权码无效或已使用），请重新打开页面。",
        "WeCom did not confirm who you are (the code is invalid or used). Please open the "
        "page again.",
    ),
    "web.not_member": (
        "只有本企业的成员可以使用此页面。请在企业微信中打开。",
        "Only members of this organisation can use this page. Please open it in WeCom.",
    ),
    "web.csrf": (
        "页面已过期或请求来源无效，没有做任何更改。请刷新页面后重试。",
        "The page has expired or the request did not come from it; nothing was changed. "
        "Please reload and try again.",
    ),
    "web.forbidden": ("您没有权限查看此内容。", "You are not allowed to see this."),
    "web.not_found": ("没有找到此页面。", "This page does not exist."),
    "web.dashboard.title": ("审核老师工作台", "Reviewer dashboard"),
    "web.dashboard.not_reviewer": (
        "此页面仅供审核老师和管理员使用。",
        "This page is for reviewers and administrators only.",
    ),
    "web.dashboard.units": ("各单位今日上报", "Today by unit"),
    "web.dashboard.unit_row": (
        "应报 {total}，已报 {reported}，未报 {missing}，未关注 {unfollowed}，异常 {abnormal}",
        "{total:@member|members}, {reported} reported, {missing} missing, {unfollowed} not "
        "following, {abnormal} abnormal",
    ),
    "web.dashboard.missing": ("今日未上报", "Not reported today"),
    "web.dashboard.none_missing": ("今日全部已上报。", "Everyone has reported today."),
    "web.dashboard.remind": ("立即提醒未报人员", "Remind them now"),
    "web.dashboard.reminded": (
        "已提醒 {number} 人；一小时内已提醒过的 {recent} 人这次跳过。",
        "{number:@member|members} reminded; {recent} already reminded in the last hour were "
        "skipped.",
    ),
    "web.dashboard.reminded_no_info": (
        "已提醒 {number} 人（其中 {no_info} 人还没有填写基本信息，已提醒其先填基本信息）；"
        "一小时内已提醒过的 {recent} 人这次跳过。",
        "{number:@member|members} reminded ({no_info} without basic information yet, told to "
        "fill it in first); {recent} already reminded in the last hour were skipped.",
    ),
    "web.dashboard.own_report": ("去上报", "Report now"),
    "web.dashboard.own_info": ("去填写基本信息", "Fill in basic information"),
    "web.dashboard.proxy": ("代报", "Report for"),
    "web.dashboard.alerts": ("异常上报", "Abnormal reports"),
    "web.dashboard.no_alerts": ("近 {days} 天没有异常上报。",
                                "No abnormal reports in {days:@day|days}."),
    "web.dashboard.ack": ("确认已处理", "Acknowledge"),
    "web.dashboard.acked": ("已由 {by} 于 {time} 确认", "Acknowledged by {by} at {time}"),
    "web.dashboard.chart": ("近 {days} 天上报率与异常数",
                            "Reporting rate and abnormal reports, {days:@day|days}"),
    "web.dashboard.rate": ("上报率", "Reporting rate"),
    "web.dashboard.abnormal": ("异常", "Abnormal"),
    "web.dashboard.export": ("导出", "Export"),
    "web.dashboard.history": ("上报记录", "Report history"),
    "web.dashboard.no_history": ("没有上报记录。", "No reports yet."),
    "web.dashboard.status_missing": ("未报", "Missing"),
    "web.dashboard.back": ("返回工作台", "Back to the dashboard"),
    "web.proxy.title": ("代 {name} 填报", "Report for {name}"),
    "web.proxy.done": (
        "已代 {name} 提交今日上报，回执号 {receipt}。",
        "Today's report for {name} was filed, receipt {receipt}.",
    ),
}


# Words members type for commands (matched after `command_key`: NFKC, case-folded, trailing
# punctuation and a leading "/" removed). The engine handles cancel/back/help inside a form;
# handlers own the rest.
COMMANDS: dict[str, tuple[str, ...]] = {
    "cancel": ("取消", "cancel", "退出", "quit", "exit"),
    "back": ("上一步", "back", "返回", "上一题", "previous"),
    "help": ("帮助", "help", "?", "说明"),
    "report": ("上报", "report", "每日上报", "打卡"),
    "info": ("信息", "info", "基本信息", "基础信息"),
    "status": ("状态", "status"),
    "text": ("文字", "text", "文本"),
    "cards": ("卡片", "cards", "card"),
    "en": ("english", "英文"),
    "zh": ("中文", "chinese"),
    "stats": ("统计", "stats"),
    "proxy": ("代报", "proxy", "代填报", "代填"),
    "ack": ("确认", "ack"),
    "late": ("补报", "late"),
    "exempt": ("免报", "exempt"),
    "remind": ("提醒", "remind"),
    "read": ("已读", "read"),
    # Answer the "continue where you left off?" prompt; inside a form, never an answer.
    "continue": ("继续", "continue"),
    "restart": ("重新开始", "restart", "start over"),
}

_COMMAND_INDEX: dict[str, str] = {
    word.casefold(): name for name, words in COMMANDS.items() for word in words
}


def command_key(raw: str) -> str:
    folded = unicodedata.normalize("NFKC", raw).strip().casefold()
    folded = folded.lstrip("/")
    return re.sub(r"[\s.!。!~～]+$", "", folded)


def command_of(raw: str) -> str | None:
    """The command a member's text names ("取消" → "cancel"), or None."""
    return _COMMAND_INDEX.get(command_key(raw))


# ---- rendering -------------------------------------------------------------------------------
# Each renderer is named after the shape of what it returns, for a member whose language is
# `lang` ("en" shows English only):
#   stacked       "中文\nEnglish"     a message: Chinese, then English on the following line(s)
#   slashed       "中文 / English"    one line: button captions, card notes
#   side_by_side  "是 Yes"            a short label, as the original app's "是 (Yes)"
#   lang_only     "中文"              only the member's language, to build composite texts
#   halves        Bi("中文", "English") both halves rendered, to pass into another entry
#   stack(lang, zh, en)               already-rendered halves stacked by the same rule


def _is_en(lang: str) -> bool:
    return lang == "en"


def templates(key: str) -> tuple[str, str]:
    """The raw (zh, en) templates of a key; KeyError for an unknown key."""
    return CATALOG[key]


class _Plural(Formatter):
    """`{count:@member|members}` renders "1 member" or "2 members" (English needs it; the
    Chinese half just says `{count} 人`)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec.startswith("@"):
            one, _, many = format_spec[1:].partition("|")
            return f"{value} {one if str(value) == '1' else many}"
        return str(super().format_field(value, format_spec))


_PLURAL = _Plural()


def _format(template: str, index: int, params: Mapping[str, Any]) -> str:
    values = {k: (v[index] if isinstance(v, Bi) else v) for k, v in params.items()}
    if ":@" in template:
        return _PLURAL.vformat(template, (), values)
    return template.format_map(values)


def lang_only(key: str, lang: str, **params: Any) -> str:
    """Only the member's language (Chinese for "zh"): for building composite texts."""
    zh, en = CATALOG[key]
    return _format(en, 1, params) if _is_en(lang) else _format(zh, 0, params)


def stack(lang: str, zh: str, en: str) -> str:
    """Already-rendered halves stacked by the catalog's rule (see the module docstring)."""
    if _is_en(lang):
        return en
    if zh == en:
        return zh
    separator = "\n\n" if "\n" in zh or "\n" in en else "\n"
    return f"{zh}{separator}{en}"


def stacked(key: str, lang: str, **params: Any) -> str:
    """A message: English for "en"; otherwise Chinese with English on the following line(s)."""
    zh, en = CATALOG[key]
    return stack(lang, _format(zh, 0, params), _format(en, 1, params))


def slashed(key: str, lang: str, **params: Any) -> str:
    """One line: "中文 / English" (or English only), for button captions and card notes."""
    zh, en = CATALOG[key]
    if _is_en(lang):
        return _format(en, 1, params)
    return f"{_format(zh, 0, params)} / {_format(en, 1, params)}"


def side_by_side(key: str, lang: str) -> str:
    """A short label: "是 Yes" (or "Yes"), as the original app's "是 (Yes)"."""
    zh, en = CATALOG[key]
    return en if _is_en(lang) else f"{zh} {en}"


def halves(key: str, **params: Any) -> Bi:
    """Both halves rendered, to pass on as a parameter of another entry."""
    zh, en = CATALOG[key]
    return Bi(_format(zh, 0, params), _format(en, 1, params))


def params_of(key: str) -> frozenset[str]:
    """The placeholder names an entry uses (the same in both languages; tested)."""
    names: set[str] = set()
    for template in CATALOG[key]:
        names.update(field for _, field, _, _ in Formatter().parse(template) if field)
    return frozenset(names)
