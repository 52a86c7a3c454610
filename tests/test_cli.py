from __future__ import annotations


def test_new_token_prints_a_token(app):
    result = app.test_cli_runner().invoke(args=["comm", "new-token"])
    assert result.exit_code == 0 and len(result.output.strip()) >= 32
