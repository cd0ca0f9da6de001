"""yiqingtong (疫情通): a WeCom bot for a university's daily health report."""

__version__ = "0.1.0"
