"""Quiet-STaR on a tiny config-initialised Gemma 3 (2 layers, sliding + global attention):
the parallel thought pass against one-at-a-time decoding, the masking, the gradients."""

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
    assert set(parts) == {"loss", "mixed_nll", "base_nll", "reinforce", "mix_weight"}


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
    loss, _ = quiet_star_loss(model, ids, tp, n_thoughts=2, base_loss_weight=0.0, reinforce_weight=1.0)
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
    lm = Gemma3ForCausalLM(config).cuda().to(torch.bfloat16)
    model = QuietStar(lm, base_vocab=262144, init_rows=torch.randn(2, 640), mixer_hidden=256).cuda()
    ids = torch.randint(0, 262144, (2, 128), device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    tp = think(model, ids, torch.arange(0, 127, 4, device="cuda"), n_thoughts=2, thought_len=12, n_ahead=4)
    loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=2)
    loss.backward()
    opt.step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens = ids.numel() + ids.shape[0] * tp.columns.numel() * (12 + 1 + 4)
    print(f"one Quiet-STaR step at thought length 12, n-ahead 4: {tokens / seconds:.0f} tokens/s")
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
