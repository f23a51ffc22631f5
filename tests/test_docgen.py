from pathlib import Path

from funnelcast.docgen import render_features_doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def test_features_doc_is_current(config):
    assert DOC.read_text(encoding="utf-8") == render_features_doc(config), (
        "run `funnelcast docs` to regenerate"
    )
