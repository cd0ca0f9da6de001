"""BASIC_INFO (基本信息): filled once per member, never changed by the member afterwards.

Why these questions: they are the original app's 基本信息 page (name, student/staff ID, mobile,
Beijing hukou, household address), plus the member type the reports are broken down by. Name
and ID come from the roster and are offered for a one-tap confirmation; a member who sees a
mistake can type the correct value (the handler may compare it with the roster). The summary
warns that the submission is final, as the original app did.

Stable keys (stored and exported): name, staff_no, mobile, beijing_hukou, hukou_address,
member_type.
"""

from __future__ import annotations

from bot.conversation import validators as v
from bot.conversation.forms import Form, Option, Question, QuestionKind, answer_in, no, yes

__all__ = ["BASIC_INFO", "MEMBER_TYPES"]

MEMBER_TYPES = ("student", "faculty", "staff")

BASIC_INFO = Form(
    id="basic_info",
    version=1,
    title="form.basic_info.title",
    intro="form.basic_info.intro",
    note="form.basic_info.note",
    questions=(
        Question("name", QuestionKind.TEXT, "q.name", parse=v.person_name,
                 prefill="name", prefill_prompt="q.name.prefilled"),
        Question("staff_no", QuestionKind.TEXT, "q.staff_no", parse=v.staff_no,
                 prefill="staff_no", prefill_prompt="q.staff_no.prefilled"),
        Question("mobile", QuestionKind.PHONE, "q.mobile"),
        Question("beijing_hukou", QuestionKind.SINGLE, "q.beijing_hukou",
                 options=(yes("opt.yes", "京籍", "北京"), no("opt.no", "非京籍"))),
        Question("hukou_address", QuestionKind.TEXT, "q.hukou_address", parse=v.address,
                 when=answer_in("beijing_hukou", False)),
        Question("member_type", QuestionKind.SINGLE, "q.member_type", options=(
            Option("student", "opt.student", aliases=("学", "本科生", "研究生")),
            Option("faculty", "opt.faculty", aliases=("老师", "教授", "teacher")),
            Option("staff", "opt.staff", aliases=("员工", "职员", "employee")),
        )),
    ),
)
