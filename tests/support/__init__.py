"""What many test modules share, one module per job (fixtures stay in tests/conftest.py and
the local servers in tests/servers/):

- `waiting`: `wait_until` and the one generous deadline every wait uses by default
- `runner`: the real `watcher` command (`Watcher`) and a running daemon (`Daemon`)
- `configs`: TOML for configs pointed at the local servers
- `alerts`: `make_alert`, an `Alert` for renderer and outbox tests
- `corpus`: `../shared` (feed corpus, articles), skipped with a reason naming it when absent
"""
