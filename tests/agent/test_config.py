from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, load_config


def test_precedence_defaults_toml_env_flags(tmp_path):
    (tmp_path / "config.toml").write_text('web = "searxng"\nsearxng_url = "http://sx"\nmax_steps = 10\nmode = "react"\n')
    env = {"DEEPSTAR_HOME": str(tmp_path), "DEEPSTAR_MAX_STEPS": "12", "DEEPSTAR_TEMPERATURE": "0.5"}
    cfg = load_config({"max_steps": 14, "mode": None}, environ=env)
    assert cfg.home == tmp_path
    assert cfg.web == "searxng" and cfg.searxng_url == "http://sx"  # from TOML
    assert cfg.temperature == 0.5  # env over default
    assert cfg.max_steps == 14  # flag over env over TOML
    assert cfg.mode == "react"  # an unset flag (None) leaves the TOML value
    assert cfg.max_subquestions == AgentConfig.__dataclass_fields__["max_subquestions"].default


def test_deepstar_section_and_lists(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[deepstar]\nallow_hosts = ["a:1", "b:2"]\n')
    cfg = load_config({}, config_file=path, environ={"DEEPSTAR_HOME": str(tmp_path)})
    assert cfg.allow_hosts == ["a:1", "b:2"]
    cfg = load_config({}, environ={"DEEPSTAR_HOME": str(tmp_path), "DEEPSTAR_ALLOW_HOSTS": "x:1, y:2"})
    assert cfg.allow_hosts == ["x:1", "y:2"]


@pytest.mark.parametrize("env, message", [
    ({"DEEPSTAR_MAX_STEPS": "many"}, "max_steps from environment DEEPSTAR_MAX_STEPS"),
    ({"DEEPSTAR_WEB": "altavista"}, "expected one of wiki, searxng, ddgs"),
    ({"DEEPSTAR_MAX_STEPS": "0"}, "max_steps must be at least 1"),
    ({"DEEPSTAR_WEB": "searxng"}, "needs searxng_url"),
    ({"DEEPSTAR_BASE_URL": "localhost:8000"}, "must start with http"),
    ({"DEEPSTAR_RESPECT_ROBOTS": "perhaps"}, "expected true or false"),
    ({"DEEPSTAR_SERVER_VLLM_ARGS": "--x 'unclosed"}, "server_vllm_args is not a shell-quoted argument list"),
])
def test_bad_values_name_the_field_and_source(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config({}, environ={"DEEPSTAR_HOME": str(tmp_path), **env})


def test_bad_toml_and_unknown_keys_are_clear_errors(tmp_path):
    (tmp_path / "config.toml").write_text("max_steps = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({}, environ={"DEEPSTAR_HOME": str(tmp_path)})
    (tmp_path / "config.toml").write_text("max_stpes = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'max_stpes'"):
        load_config({}, environ={"DEEPSTAR_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, config_file=tmp_path / "missing.toml", environ={})


def test_redacted_hides_the_api_key():
    cfg = AgentConfig(home=Path("/tmp/x"), api_key="sk-secret")
    assert cfg.redacted()["api_key"] == "***" and "sk-secret" not in str(cfg.redacted())


def test_server_vllm_args_reach_the_server_command_after_deepstars_own(tmp_path):
    from agent.runtime import server_spec
    from reasoner.server import _command

    env = {"DEEPSTAR_HOME": str(tmp_path), "DEEPSTAR_SERVER_VLLM_ARGS": "--distributed-executor-backend uni --x 'a b'"}
    cfg = load_config({}, environ=env)
    spec = server_spec(cfg, model_path=tmp_path, enable_lora=False)
    assert spec.extra_args == ("--distributed-executor-backend", "uni", "--x", "a b")
    cmd = _command(spec, "cuda")
    assert cmd[-4:] == ["--distributed-executor-backend", "uni", "--x", "a b"]
    assert cmd.index("--model") < cmd.index("--distributed-executor-backend")
    assert server_spec(load_config({}, environ={"DEEPSTAR_HOME": str(tmp_path)}), model_path=tmp_path,
                       enable_lora=False).extra_args == ()
