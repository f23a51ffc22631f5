"""Vocabularies the generator draws from, with the hidden effects they carry."""

INDUSTRIES = {  # name: (probability, effect on intent)
    "manufacturing": (0.20, 0.15),
    "software": (0.16, 0.35),
    "finance": (0.12, 0.10),
    "retail": (0.14, -0.20),
    "healthcare": (0.10, 0.05),
    "education": (0.10, -0.30),
    "logistics": (0.10, 0.00),
    "energy": (0.08, 0.10),
}
REGIONS = {"华东": 0.30, "华北": 0.22, "华南": 0.20, "西南": 0.10, "华中": 0.08, "International": 0.10}
SOURCES = {  # name: (probability, effect on intent)
    "website": (0.24, 0.0),
    "paid_search": (0.18, -0.35),
    "webinar": (0.12, 0.30),
    "referral": (0.08, 0.85),
    "trade_show": (0.10, 0.20),
    "email_campaign": (0.14, -0.25),
    "partner": (0.06, 0.50),
    "cold_outreach": (0.08, -0.85),
}
AUTHORITY = {  # level: (probability, effect on intent, titles)
    "executive": (0.08, 0.85, ["CEO", "总经理", "董事长", "Founder", "CTO", "总裁", "Managing Director"]),
    "vp": (0.07, 0.75, ["VP Sales", "副总经理", "副总裁", "Vice President, Operations", "VP of IT"]),
    "director": (
        0.17,
        0.55,
        ["IT Director", "采购总监", "Head of Marketing", "技术总监", "Director of Finance"],
    ),
    "manager": (0.30, 0.15, ["经理", "Sales Manager", "项目主管", "Marketing Manager", "IT主管"]),
    "staff": (0.28, -0.40, ["工程师", "Software Engineer", "Analyst", "采购专员", "市场助理"]),
    "unknown": (0.10, -0.30, [""]),
}
CONTACT_ROLES = ["decision_maker", "champion", "influencer", "user", "gatekeeper"]
HORIZON_BANDS = [(30, "<1m"), (90, "1-3m"), (180, "3-6m"), (365, "6-12m"), (10_000, ">12m")]
DISQUALIFY_REASONS = ["no_budget", "not_interested", "no_authority", "unreachable", "duplicate"]
LEAD_OWNERS = [
    "张伟",
    "李娜",
    "Emily Chen",
    "王磊",
    "刘洋",
    "Mark Davis",
    "陈静",
    "杨帆",
    "赵敏",
    "Sofia Rossi",
]
DEAL_OWNERS = [
    "王芳",
    "李强",
    "James Wu",
    "周杰",
    "吴婷",
    "孙浩",
    "Anna Müller",
    "郑凯",
    "黄蕾",
    "徐明",
    "Carlos Diaz",
    "何欣",
    "林峰",
    "高远",
    "马丽",
]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "慧",
    "建国",
    "子涵",
    "浩然",
    "一鸣",
]
COMPANY_PREFIX = [
    "星辰",
    "恒信",
    "华宇",
    "博远",
    "中科",
    "天成",
    "瑞丰",
    "金桥",
    "东方",
    "鼎盛",
    "云帆",
    "海纳",
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Acme",
]
COMPANY_MIDDLE = ["科技", "智能", "数据", "制造", "物流", "医疗", "教育", "能源", " Systems", " Analytics"]
COMPANY_SUFFIX = ["有限公司", "集团", "股份有限公司", " Ltd", " Inc"]
# brand syllables that tell apart companies whose prefix and trade would otherwise repeat (a registered
# company name is unique: two accounts never share one)
BRAND_SYLLABLES = list(
    "安邦博昌诚达鼎丰富广海航和宏华汇佳嘉建金锦精聚凯康蓝力联龙美明诺鹏启庆荣瑞森盛世泰腾天通万伟文新信星兴旭亚扬耀逸永宇远悦泽展正致智中卓"
)
FREE_MAIL = [
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "foxmail.com",
    "sina.com",
    "hotmail.com",
]
# lead behaviour: type -> (base share, sensitivity to intent)
LEAD_EVENTS = {
    "web_visit": (0.20, 0.10),
    "page_view": (0.24, 0.10),
    "email_sent": (0.30, -0.50),
    "content_download": (0.06, 0.40),
    "webinar_attended": (0.03, 0.30),
    "event_attended": (0.01, 0.20),
    "form_submit": (0.03, 0.55),
    "demo_request": (0.015, 0.80),
    "email_reply": (0.02, 0.60),
    "call": (0.015, 0.30),
}
# opens and clicks follow sends: P(open | sent) and P(click | open) rise with intent
EMAIL_OPEN_LOGIT, EMAIL_CLICK_LOGIT = (-1.0, 0.5), (-1.3, 0.6)  # (intercept, slope on intent)
DEAL_EVENTS = {
    "call": 0.30,
    "meeting": 0.15,
    "email_sent": 0.22,
    "email_reply": 0.18,
    "proposal_sent": 0.05,
    "page_view": 0.10,
}
LOSS_BY_STAGE = [  # loss reason shares when lost from open stage 0, 1, 2, 3
    {
        "need_mismatch": 0.45,
        "no_budget": 0.25,
        "competitor_won": 0.05,
        "decision_delayed": 0.10,
        "other": 0.15,
    },
    {
        "need_mismatch": 0.30,
        "no_budget": 0.30,
        "competitor_won": 0.15,
        "decision_delayed": 0.15,
        "other": 0.10,
    },
    {
        "need_mismatch": 0.15,
        "no_budget": 0.20,
        "competitor_won": 0.35,
        "decision_delayed": 0.20,
        "other": 0.10,
    },
    {
        "need_mismatch": 0.05,
        "no_budget": 0.15,
        "competitor_won": 0.45,
        "decision_delayed": 0.30,
        "other": 0.05,
    },
]
