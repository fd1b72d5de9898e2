"""Quiet-STaR on a tiny config-initialised Gemma 3 (2 layers, sliding + global attention):
the parallel thought pass against one-at-a-time decoding, the masking, the gradients, the
official weighting's fields (clamped rewards, policy beta, reinforce temperature, embedding
scale, every position, presets), the paired evaluation, the plot and the comparison."""

from __future__ import annotations

import pytest

# the train extra is installed wherever these tests run (CI installs it): a broken torch or
# transformers is a failure here, never a silent skip; only a missing GPU skips the CUDA test
import torch
import transformers  # noqa: F401

from reasoner.quiet_star import (
    QuietStar,
    QuietStarConfig,
    build_mask,
    generate,
    quiet_star_loss,
    text_hidden,
    think,
)

VOCAB = 97
L = 20
T = 3
N_AHEAD = 3


def tiny_model(seed: int = 0, sliding_window: int = 7) -> QuietStar:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, sliding_window=sliding_window, max_position_embeddings=256,
        layer_types=["sliding_attention", "full_attention"], attn_implementation="eager")
    lm = Gemma3ForCausalLM(config).float().eval()
    init = torch.randn(2, 32)
    model = QuietStar(lm, base_vocab=VOCAB, init_rows=init, mixer_hidden=16, mixer_init=0.0)
    torch.nn.init.normal_(model.mixer[2].weight, std=0.5)  # a mixing weight that depends on its input
    return model


def text(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, L), generator=torch.Generator().manual_seed(seed))


def sequential_hidden(model: QuietStar, seq: list[int]) -> torch.Tensor:
    """The reference: the whole sequence (text prefix, thought, forced tokens) through the
    unmodified Hugging Face forward, which builds its own causal and sliding-window masks."""
    ids = torch.tensor([seq])
    out = model.causal_lm.model(inputs_embeds=model.embed(ids), use_cache=False)
    return out.last_hidden_state[0]


def test_parallel_thoughts_match_generating_each_thought_alone():
    model = tiny_model()
    ids = text()
    positions = torch.tensor([0, 3, 8, 12, 18])
    with torch.no_grad():
        tp = think(model, ids, positions, n_thoughts=2, thought_len=T, n_ahead=N_AHEAD, temperature=1.0,
                   generator=torch.Generator().manual_seed(5))
        assert tp.thoughts.shape == (2, 10, T)
        for b in range(2):
            for j, p in enumerate(tp.columns.tolist()):
                thought = tp.thoughts[b, j].tolist()
                forced = ids[b, p + 1: p + N_AHEAD].tolist()
                seq = ids[b, : p + 1].tolist() + [model.start_id] + thought + [model.end_id] + forced
                h = sequential_hidden(model, seq)
                # the thought tokens' log-probabilities: predicted from <|startthought|> and each thought token
                logp = torch.log_softmax(model.logits(h[p + 1: p + 1 + T]), -1)
                expected = logp.gather(-1, torch.tensor(thought)[:, None]).squeeze(-1)
                torch.testing.assert_close(tp.thought_logprobs[b, j], expected, atol=1e-4, rtol=1e-4)
                # after <|endthought|> and after each forced true token (past the text: not compared)
                n = min(N_AHEAD, L - p)
                start = p + 2 + T
                torch.testing.assert_close(model.logits(tp.h_after[b, j, :n]), model.logits(h[start: start + n]),
                                           atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(tp.h_text[b], sequential_hidden(model, ids[b].tolist()), atol=1e-5, rtol=1e-5)


def test_generation_with_thoughts_matches_the_parallel_pass():
    """The serving path (one token at a time, thought dropped from the cache) picks the token
    the parallel pass's mixed prediction ranks first, with the same greedy thought."""
    model = tiny_model(seed=3)
    ids = text(seed=4)[:1]
    with torch.no_grad():
        for p in (2, 9, 15):
            tp = think(model, ids, torch.tensor([p]), n_thoughts=1, thought_len=T, n_ahead=1, temperature=0.0)
            w = model.mix_weight(tp.h_text[0, p], tp.h_after[0, 0, 0])
            mixed = (1 - w) * model.logits(tp.h_text[0, p]) + w * model.logits(tp.h_after[0, 0, 0])
            out = generate(model, ids[0, : p + 1].tolist(), max_new_tokens=1, thought_len=T, thought_temperature=0.0)
            assert out == [int(mixed.argmax())]
        plain = generate(model, ids[0, :5].tolist(), max_new_tokens=4)
        assert all(t < VOCAB for t in plain)


def test_no_thought_token_sees_later_text_or_other_thoughts():
    model = tiny_model(seed=2)
    ids = text(seed=6)[:1]
    positions = torch.tensor([4, 10])
    forced = torch.randint(0, VOCAB, (1, 4, T), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = think(model, ids, positions, n_thoughts=2, thought_len=T, n_ahead=1, thoughts=forced)
        # change the text after position 4 and the thoughts of every other column
        changed = ids.clone()
        changed[0, 5:] = (changed[0, 5:] + 1) % VOCAB
        other = forced.clone()
        other[0, 1:] = (other[0, 1:] + 7) % VOCAB
        alt = think(model, changed, positions, n_thoughts=2, thought_len=T, n_ahead=1, thoughts=other)
    torch.testing.assert_close(alt.h_after[0, 0], ref.h_after[0, 0])          # column 0: position 4, thought 0
    torch.testing.assert_close(alt.thought_logprobs[0, 0], ref.thought_logprobs[0, 0])
    assert not torch.allclose(alt.h_after[0, 2], ref.h_after[0, 2])           # column 2: its own thought changed


def test_mask_structure():
    # two columns after positions 1 and 3 of a 5-token text, block 2 (keys: text + 2 blocks)
    k_pos = torch.tensor([0, 1, 2, 3, 4, 2, 4, 3, 5])
    k_col = torch.tensor([-1, -1, -1, -1, -1, 0, 1, 0, 1])
    masks = build_mask(torch.tensor([3, 5]), torch.tensor([0, 1]), torch.tensor([1, 3]), k_pos, k_col,
                       window=None, dtype=torch.float32)
    allowed = masks["full_attention"][0, 0] == 0
    assert allowed.tolist() == [
        [True, True, False, False, False, True, False, True, False],
        [True, True, True, True, False, False, True, False, True],
    ]
    slide = build_mask(torch.tensor([5]), torch.tensor([1]), torch.tensor([3]), k_pos, k_col, window=3,
                       dtype=torch.float32)["sliding_attention"][0, 0, 0] == 0
    assert slide.tolist() == [False, False, False, True, False, False, True, False, True]


def test_gradients_reach_mixing_head_thought_embeddings_and_model():
    model = tiny_model(seed=4)
    model.train()
    ids = text(seed=8)
    tp = think(model, ids, torch.tensor([1, 5, 9]), n_thoughts=2, thought_len=T, n_ahead=2,
               generator=torch.Generator().manual_seed(1))
    loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=2)
    loss.backward()
    assert model.thought_embeddings.grad is not None and model.thought_embeddings.grad.abs().sum() > 0
    for p in model.mixer.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    q = model.causal_lm.model.layers[0].self_attn.q_proj.weight
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert set(parts) == {"loss", "mixed_nll", "base_nll", "reinforce", "mix_weight", "reward", "helps", "thought_logprob"}


def test_reinforce_rewards_the_thought_that_makes_the_future_likely():
    """Planted: at each position, thought 0 leaves a hidden state pointing at the true next
    tokens, thought 1 one pointing away. Descending the loss must raise thought 0's
    log-probability and lower thought 1's."""
    from reasoner.quiet_star import ThoughtPass

    model = tiny_model(seed=5)
    ids = text(seed=9)[:1]
    columns = torch.tensor([2, 6, 2, 6])  # 2 positions x 2 thoughts
    W = model.causal_lm.get_output_embeddings().weight.detach()
    after = torch.zeros(1, 4, 2, 32)
    for j, p in enumerate(columns.tolist()):
        for a in range(2):
            sign = 1.0 if j < 2 else -1.0
            after[0, j, a] = sign * 5 * W[ids[0, p + 1 + a]]
    logps = torch.full((1, 4, T), -2.0, requires_grad=True)
    tp = ThoughtPass(h_text=torch.zeros(1, L, 32), h_after=after, columns=columns,
                     thoughts=torch.zeros(1, 4, T, dtype=torch.long), thought_logprobs=logps)
    loss, _ = quiet_star_loss(model, ids, tp, n_thoughts=2, base_loss_weight=0.0, policy_loss_beta=1.0)
    loss.backward()
    assert (logps.grad[0, :2] < 0).all()   # gradient descent raises the good thoughts' log-probability
    assert (logps.grad[0, 2:] > 0).all()   # and lowers the bad ones'


def test_text_hidden_is_the_plain_forward():
    model = tiny_model(seed=7, sliding_window=4)
    ids = text(seed=10)
    with torch.no_grad():
        torch.testing.assert_close(text_hidden(model, ids), model.causal_lm.model(input_ids=ids).last_hidden_state,
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad", [{"n_thoughts": 1}, {"seq_len": 3, "n_ahead": 4}, {"positions": 64},
                                 {"thought_temperature": -1.0}, {"dtype": "fp16"}, {"learning_rate": 0.0}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        QuietStarConfig(base_model="m", output_dir="o", **bad)


def test_cuda_step_at_paper_shapes():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")
    import time

    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512,
                              attn_implementation="eager")
    from reasoner.quiet_star import PRESETS

    paper = PRESETS["official"]  # every position, 10 + 2 thought tokens, 4 ahead, 2 passes, beta 1e6, ...
    lm = Gemma3ForCausalLM(config).cuda()  # fp32 weights, bf16 compute, as training runs it
    model = QuietStar(lm, base_vocab=262144, init_rows=torch.randn(2, 640), mixer_hidden=256,
                      embedding_scale=paper["embedding_scale"]).cuda()
    ids = torch.randint(0, 262144, (2, 128), device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=paper["learning_rate"])
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        tp = think(model, ids, torch.arange(127, device="cuda"), n_thoughts=paper["n_thoughts"],
                   thought_len=paper["thought_len"], n_ahead=paper["n_ahead"],
                   reinforce_temperature=paper["reinforce_temperature"])
        loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=paper["n_thoughts"],
                                      policy_loss_beta=paper["policy_loss_beta"],
                                      remove_negative_rewards=paper["remove_negative_rewards"],
                                      thought_logprob_reduction=paper["thought_logprob_reduction"])
    loss.backward()
    opt.step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens = ids.numel() + ids.shape[0] * tp.columns.numel() * (paper["thought_len"] + 1 + paper["n_ahead"])
    print(f"one Quiet-STaR step, official settings (every position of 128 tokens, thought 12, n-ahead 4): "
          f"{tokens / seconds:.0f} tokens/s")
    assert torch.isfinite(loss)


def test_evaluate_scores_every_position_three_ways():
    from reasoner.quiet_star import evaluate

    model = tiny_model(seed=11)
    chunks = text(seed=12).tolist()
    result = evaluate(model, chunks, thought_len=2, seed=0)
    assert result["tokens"] == 2 * (L - 1) and result["difficult_tokens"] >= 1
    # no adapter on the tiny model: the base model is the model without thoughts
    assert result["base"]["loss"] == result["no_thought"]["loss"]
    assert result["thought"]["loss"] != result["no_thought"]["loss"]
    # a mixing head shut (weight ~0) makes the thought irrelevant to the prediction
    with torch.no_grad():
        torch.nn.init.zeros_(model.mixer[2].weight)
        torch.nn.init.constant_(model.mixer[2].bias, -60.0)
    shut = evaluate(model, chunks, thought_len=2, seed=0)
    assert shut["thought"]["loss"] == pytest.approx(shut["no_thought"]["loss"], abs=1e-4)
    assert shut["thought"]["difficult_loss"] >= shut["thought"]["loss"]
    assert shut["mix_weight"] < 1e-6 and shut["paired"]["thought_minus_no_thought"]["ci95"] == pytest.approx([0, 0], abs=1e-4)


def test_evaluate_pairs_the_arms_on_the_same_chunks():
    from reasoner.quiet_star import base_token_losses, evaluate

    model = tiny_model(seed=11)
    chunks = text(seed=12).tolist() + text(seed=13).tolist()
    result = evaluate(model, chunks, thought_len=2, seed=0)
    pair = result["paired"]["thought_minus_no_thought"]
    assert pair["delta"] == pytest.approx(result["thought"]["loss"] - result["no_thought"]["loss"], abs=1e-4)
    assert pair["ci95"][0] <= pair["delta"] <= pair["ci95"][1] and pair["ci95"][0] < pair["ci95"][1]
    assert pair["difficult_delta"] == pytest.approx(
        result["thought"]["difficult_loss"] - result["no_thought"]["difficult_loss"], abs=1e-4)
    assert 0 < result["mix_weight"] < 1
    # a fully trained model has no adapter to switch off: the base column comes from the base checkpoint
    other = tiny_model(seed=21).causal_lm
    given = base_token_losses(other, chunks)
    with_base = evaluate(model, chunks, thought_len=2, seed=0, base_losses=given)
    assert with_base["base"]["loss"] == pytest.approx(sum(map(sum, given)) / (4 * (L - 1)), abs=1e-4)
    assert with_base["base"]["loss"] != result["base"]["loss"]
    assert with_base["thought"]["loss"] == result["thought"]["loss"]  # difficult tokens follow the base column


def test_generation_reuses_the_cache_of_a_shared_prefix():
    model = tiny_model(seed=13)
    ids = text(seed=14)[0].tolist()
    session: dict = {}
    with torch.no_grad():
        first = generate(model, ids[:8], max_new_tokens=3, thought_len=2, thought_temperature=0.0, session=session)
        assert session["tokens"] == ids[:8] + first  # every token written was fed back
        cache = session["cache"]
        # a later turn: the earlier text, then something else (as an agent's next prompt is)
        later = ids[:6] + ids[10:18]
        reused = generate(model, later, max_new_tokens=4, thought_len=2, thought_temperature=0.0, session=session)
        fresh = generate(model, later, max_new_tokens=4, thought_len=2, thought_temperature=0.0)
    assert reused == fresh
    assert session["cache"] is cache and session["tokens"][: len(later)] == later


def test_generation_after_an_unrelated_or_failed_call_starts_clean():
    """A prompt that shares not even its first token with the cached text, or a call after
    one that failed part-way, must not see the earlier call's keys (seen in `quiet-star
    serve`: one such request left every later one failing on a stale cache)."""
    model = tiny_model(seed=15)
    ids = text(seed=16)[0].tolist()
    other = [(t + 1) % VOCAB for t in ids[:9]]  # differs from ids at the first token
    session: dict = {}
    with torch.no_grad():
        generate(model, ids[:10], max_new_tokens=3, thought_len=2, thought_temperature=0.0, session=session)
        unrelated = generate(model, other, max_new_tokens=4, thought_len=2, thought_temperature=0.0, session=session)
        assert unrelated == generate(model, other, max_new_tokens=4, thought_len=2, thought_temperature=0.0)
        assert session["cache"].get_seq_length() == len(other) + 4  # the prompt and the tokens fed back

        def fail(tokens: list[int]) -> bool:
            raise RuntimeError("the client went away")

        with pytest.raises(RuntimeError):
            generate(model, ids[:12], max_new_tokens=4, thought_len=2, thought_temperature=0.0, session=session,
                     stop=fail)
        after = generate(model, ids[:7], max_new_tokens=4, thought_len=0, session=session)
        assert after == generate(model, ids[:7], max_new_tokens=4, thought_len=0)


# --- the official weighting's fields ------------------------------------------------------

def planted_pass(model: QuietStar, ids: torch.Tensor):
    """test_reinforce_…'s setup: thought 0 at each of 2 positions predicts the next tokens
    well, thought 1 badly; the log-probabilities are a leaf to read the policy gradient from."""
    from reasoner.quiet_star import ThoughtPass

    columns = torch.tensor([2, 6, 2, 6])
    W = model.causal_lm.get_output_embeddings().weight.detach()
    after = torch.zeros(1, 4, 2, 32)
    for j, p in enumerate(columns.tolist()):
        for a in range(2):
            after[0, j, a] = (1.0 if j < 2 else -1.0) * 5 * W[ids[0, p + 1 + a]]
    logps = torch.full((1, 4, T), -2.0, requires_grad=True)
    tp = ThoughtPass(h_text=torch.zeros(1, L, 32), h_after=after, columns=columns,
                     thoughts=torch.zeros(1, 4, T, dtype=torch.long), thought_logprobs=logps)
    return tp, logps


def policy_grad(**kwargs) -> torch.Tensor:
    model = tiny_model(seed=5)
    ids = text(seed=9)[:1]
    tp, logps = planted_pass(model, ids)
    loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=2, base_loss_weight=0.0, **kwargs)
    loss.backward()
    return logps.grad[0]


def test_negative_rewards_are_clamped_to_zero():
    kept = policy_grad(remove_negative_rewards=False)
    clamped = policy_grad(remove_negative_rewards=True)
    assert (kept[2:] > 0).all()                       # kept: the bad thoughts are pushed down
    assert (clamped[2:] == 0).all()                   # clamped: they get no gradient at all
    torch.testing.assert_close(clamped[:2], kept[:2])  # the good ones are reinforced as before


def test_policy_loss_beta_weights_the_policy_gradient():
    torch.testing.assert_close(policy_grad(policy_loss_beta=1e6), 1e6 * policy_grad(policy_loss_beta=1.0))


def test_thought_logprob_mean_is_the_sum_over_thought_len():
    torch.testing.assert_close(policy_grad(thought_logprob_reduction="mean"),
                               policy_grad(thought_logprob_reduction="sum") / T)


def test_loss_reports_reward_and_share_of_positions_where_thinking_helps():
    model = tiny_model(seed=5)
    with torch.no_grad():  # a fixed mixing weight of 0.5
        torch.nn.init.zeros_(model.mixer[2].weight)
        torch.nn.init.zeros_(model.mixer[2].bias)
    ids = text(seed=9)[:1]
    tp, _ = planted_pass(model, ids)
    # h_text is zero, so the plain prediction is uniform; a zero state after a thought is
    # uniform too (reward 0), the planted good thought beats it, the bad one loses to it
    tp.h_after[0, 2:] = 0
    _, parts = quiet_star_loss(model, ids, tp, n_thoughts=2)
    assert parts["helps"] == 1.0 and parts["reward"] > 0
    tp.h_after[0, :2] = -tp.h_after[0, :2]  # now both thoughts at each position point away or nowhere
    _, parts = quiet_star_loss(model, ids, tp, n_thoughts=2)
    assert parts["helps"] == 0.0 and parts["reward"] < 0
    assert parts["mix_weight"] == pytest.approx(0.5) and parts["thought_logprob"] == pytest.approx(-2.0)


def test_reinforce_temperature_is_applied_to_the_thought_logprobs():
    model = tiny_model()
    ids = text()[:1]
    positions = torch.tensor([3, 11])
    with torch.no_grad():
        plain = think(model, ids, positions, n_thoughts=2, thought_len=T, n_ahead=2,
                      generator=torch.Generator().manual_seed(5))
        tempered = think(model, ids, positions, n_thoughts=2, thought_len=T, n_ahead=2,
                         generator=torch.Generator().manual_seed(5), reinforce_temperature=3.0)
        assert torch.equal(plain.thoughts, tempered.thoughts)  # sampling is unchanged
        for j, p in enumerate(tempered.columns.tolist()):
            thought = tempered.thoughts[0, j].tolist()
            h = sequential_hidden(model, ids[0, : p + 1].tolist() + [model.start_id] + thought)
            logp = torch.log_softmax(model.logits(h[p + 1: p + 1 + T]) / 3.0, -1)
            expected = logp.gather(-1, torch.tensor(thought)[:, None]).squeeze(-1)
            torch.testing.assert_close(tempered.thought_logprobs[0, j], expected, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(plain.thought_logprobs, tempered.thought_logprobs)


def test_embedding_scale_speeds_up_the_thought_embeddings():
    from transformers import Gemma3ForCausalLM

    lm = tiny_model().causal_lm
    rows = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([[5, VOCAB, 7, VOCAB + 1, 9]])
    moved = {}
    for scale in (1.0, 100.0):
        model = QuietStar(Gemma3ForCausalLM(lm.config).eval(), base_vocab=VOCAB, init_rows=rows, embedding_scale=scale)
        torch.testing.assert_close(model.embed(ids)[0, [1, 3]], rows)  # used as given, whatever the scale
        opt = torch.optim.AdamW([model.thought_embeddings], lr=1e-3, weight_decay=0.0)
        model.embed(ids).sum().backward()
        opt.step()
        moved[scale] = float((model.thought_rows().detach() - rows).abs().max())
        # the saved rows are the ones used, so a run loads under any scale
        other = QuietStar(Gemma3ForCausalLM(lm.config).eval(), base_vocab=VOCAB, init_rows=torch.zeros(2, 32))
        other.load_trainable_state(model.trainable_state())
        torch.testing.assert_close(other.thought_rows(), model.thought_rows().detach())
    assert moved[1.0] == pytest.approx(1e-3, rel=0.05)
    assert moved[100.0] == pytest.approx(0.1, rel=0.05)


def test_every_position_mode_and_drawn_positions():
    from reasoner.quiet_star import thought_positions

    every = QuietStarConfig(base_model="m", output_dir="o", seq_len=L, positions=0)
    assert thought_positions(every, 0, torch.device("cpu")).tolist() == list(range(L - 1))
    some = QuietStarConfig(base_model="m", output_dir="o", seq_len=L, positions=5)
    drawn = thought_positions(some, 3, torch.device("cpu"))
    assert len(set(drawn.tolist())) == 5 and drawn.tolist() == sorted(drawn.tolist()) and int(drawn.max()) < L - 1
    assert torch.equal(drawn, thought_positions(some, 3, torch.device("cpu")))
    assert not torch.equal(drawn, thought_positions(some, 4, torch.device("cpu")))
    model = tiny_model()
    with torch.no_grad():
        tp = think(model, text(), thought_positions(every, 0, torch.device("cpu")), n_thoughts=2, thought_len=T,
                   n_ahead=N_AHEAD)
    assert tp.columns.tolist() == list(range(L - 1)) * 2


def test_defaults_are_the_official_settings_and_departures_are_recorded():
    from reasoner.quiet_star import PRESETS

    official = QuietStarConfig(base_model="m", output_dir="o")
    assert official.overrides == {} and official.weighting == "official"
    assert (official.policy_loss_beta, official.remove_negative_rewards, official.reinforce_temperature,
            official.embedding_scale, official.positions, official.end_thought_init, official.thought_len + 2,
            official.n_ahead, official.n_thoughts, official.trainable, official.learning_rate) == \
        (1e6, True, 3.0, 100.0, 0, "---", 12, 4, 2, "full", 1e-6)
    legacy = QuietStarConfig.preset("legacy", base_model="m", output_dir="o", thought_len=None)
    assert legacy.overrides == {} and legacy.trainable == "lora" and legacy.policy_loss_beta == 1.0
    assert {k: getattr(legacy, k) for k in PRESETS["legacy"]} == PRESETS["legacy"]
    scaled = QuietStarConfig.preset("official", base_model="m", output_dir="o", positions=16)
    assert scaled.overrides == {"positions": {"preset": 0, "used": 16}}
    with pytest.raises(ValueError, match="weighting"):
        QuietStarConfig.preset("paper", base_model="m", output_dir="o")


def test_a_config_stored_before_the_weighting_field_reads_as_legacy():
    stored = {"base_model": "m", "output_dir": "o", "max_steps": 400, "seq_len": 96, "thought_len": 8, "n_ahead": 4,
              "positions": 16, "learning_rate": 1e-4, "reinforce_weight": 1.0, "lora_rank": 8}
    config = QuietStarConfig.from_stored(stored)
    assert config.weighting == "legacy" and config.trainable == "lora" and config.policy_loss_beta == 1.0
    assert not config.remove_negative_rewards and config.embedding_scale == 1.0 and config.end_thought_init == "\n"
    fresh = QuietStarConfig.preset("official", base_model="m", output_dir="o", positions=16)
    from dataclasses import asdict

    assert QuietStarConfig.from_stored(asdict(fresh)) == fresh


class _Tokenizer:
    """The two calls wrap_model makes of a tokenizer: encode a text, add the thought tokens."""

    def __init__(self) -> None:
        self.added: list[str] = []

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [{"---": 11, "\n": 22}[text]]}

    def add_special_tokens(self, spec: dict) -> None:
        self.added = list(spec["additional_special_tokens"])

    def convert_tokens_to_ids(self, token: str) -> int:
        return VOCAB + self.added.index(token)


def test_end_of_thought_starts_from_the_configured_text():
    from reasoner.quiet_star import wrap_model

    lm = tiny_model().causal_lm
    table = lm.get_input_embeddings()
    for weighting, end_token in (("official", 11), ("legacy", 22)):
        config = QuietStarConfig.preset(weighting, base_model="m", output_dir="o")
        model = wrap_model(lm, _Tokenizer(), config)
        with torch.no_grad():
            expected = table(torch.tensor([11, end_token]))
        torch.testing.assert_close(model.thought_rows().detach(), expected)
        assert model.embedding_scale == config.embedding_scale


def test_paired_bootstrap_interval_over_chunks():
    from reasoner.quiet_star import paired_bootstrap

    b = [torch.rand(10, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    hard = [x > 0.8 for x in b]
    shifted = paired_bootstrap([x + 0.5 for x in b], b, hard)
    assert shifted["delta"] == pytest.approx(0.5) and shifted["ci95"] == pytest.approx([0.5, 0.5])
    # one chunk much worse: the point estimate moves and the interval widens to include it
    worse = [x + (4.0 if i == 0 else 0.0) for i, x in enumerate(b)]
    mixed = paired_bootstrap(worse, b, hard)
    assert mixed["delta"] == pytest.approx(0.5) and mixed["ci95"][0] < 0.5 < mixed["ci95"][1]
    assert mixed["ci95"][0] >= 0.0


def test_plot_has_a_panel_per_logged_quantity(tmp_path):
    from reasoner.quiet_star.plotting import write_plot

    model = tiny_model(seed=4)
    ids = text(seed=8)
    history = []
    for step in range(3):
        tp = think(model, ids, torch.tensor([1, 5]), n_thoughts=2, thought_len=T, n_ahead=2,
                   generator=torch.Generator().manual_seed(step))
        _, parts = quiet_star_loss(model, ids, tp, n_thoughts=2)
        history.append({"step": step + 1, **parts})
    assert write_plot(tmp_path / "loss.png", history) == ["mixed_nll", "mix_weight", "reward", "helps", "thought_logprob"]
    assert (tmp_path / "loss.png").stat().st_size > 1000
    old = [{k: h[k] for k in ("step", "mixed_nll", "base_nll", "mix_weight")} for h in history]
    assert write_plot(tmp_path / "old.png", old) == ["mixed_nll", "mix_weight"]


def tiny_run_metrics(weighting: str, mixer_bias: float) -> dict:
    """metrics.json as train_quiet_star writes it, from the tiny model's real evaluation."""
    from dataclasses import asdict

    from reasoner.quiet_star import evaluate

    model = tiny_model(seed=11)
    with torch.no_grad():
        torch.nn.init.constant_(model.mixer[2].bias, mixer_bias)
    config = QuietStarConfig.preset(weighting, base_model="m", output_dir="o", seq_len=L, positions=4)
    history = [{"step": s, "mix_weight": 0.1 / s, "reward": 0.01 * s, "helps": 0.5, "thought_logprob": -3.0,
                "mixed_nll": 3.0, "base_nll": 3.1} for s in (1, 2)]
    return {"config": asdict(config), "steps": 2, "train_s": 1.0, "tokens_per_s": 10.0, "history": history,
            "evaluation": evaluate(model, text(seed=12).tolist(), thought_len=2, seed=0)}


def test_comparison_puts_the_arms_side_by_side():
    from reasoner.quiet_star import render_comparison

    runs = {"legacy": tiny_run_metrics("legacy", -8.0), "official": tiny_run_metrics("official", 0.0)}
    table = render_comparison(runs)
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert lines[""].endswith("| legacy | official |")
    for key in ("thought", "no_thought", "base"):
        label = {"thought": "loss with thoughts", "no_thought": "loss without thoughts", "base": "base model loss"}[key]
        assert lines[label] == f"| {label} | " + " | ".join(f"{runs[r]['evaluation'][key]['loss']:.4g}" for r in runs) + " |"
    pair = runs["official"]["evaluation"]["paired"]["thought_minus_no_thought"]
    assert f"{pair['delta']:+.4f} [{pair['ci95'][0]:+.4f}, {pair['ci95'][1]:+.4f}]" in lines["with − without (95% CI)"]
    assert "| mixing weight, last step | 0.05 | 0.05 |" in table
    assert "| mean reward, last 50 steps (nats) | 0.015 | 0.015 |" in table
