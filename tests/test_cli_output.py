"""What the CLI prints can be copied: paths longer than the terminal stay on one line."""


def test_long_paths_are_printed_on_one_line_whatever_the_terminal_width(monkeypatch):
    from pilotmonitor import cli

    monkeypatch.setattr(cli.console, "width", 40)
    path = "/work/" + "a-long-folder-name/" * 12 + "dbt_project/target/index.html"
    with cli.console.capture() as captured:
        cli.console.print(f"warehouse: {path}")
    assert f"warehouse: {path}" in captured.get().splitlines()
