"""Per-stage save / compose-at-load, and folded-PEFT and merged exports that match the nested model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from msft_helpers import batch, randomize_adapters, save_tiny

from formulaforge.models.loading import load_model, resolve_model
from formulaforge.models.msft import MSFTAdapter, MSFTConfig
from formulaforge.models.msft.io import RunError, export_lora, load_run, save_run
from formulaforge.models.msft.merge import save_merged

CFG = dict(r1=4, alpha=8, r2=16, r3=2, dropout=0.0)


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2", "gpt2"])
@pytest.mark.parametrize("mode", ["residual", "paper"])
def test_nested_folded_peft_and_merged_agree(tmp_path: Path, arch: str, mode: str) -> None:
    from peft import PeftModel

    base_dir = save_tiny(arch, tmp_path / "base")
    x = batch()
    model = load_model(str(base_dir))
    adapter = MSFTAdapter.inject(model, MSFTConfig(mode=mode, **CFG), [1, 2, 3])
    randomize_adapters(adapter)
    with torch.no_grad():
        nested = model(x).logits
    save_run(tmp_path / "run", adapter, str(base_dir))

    composed_model = load_model(str(base_dir))
    composed = load_run(composed_model, tmp_path / "run")
    assert composed.stages == (1, 2, 3)
    with torch.no_grad():
        assert torch.equal(composed_model(x).logits, nested)

    export_lora(composed, tmp_path / "lora", str(base_dir))
    peft_model = PeftModel.from_pretrained(load_model(str(base_dir)), tmp_path / "lora").eval()
    wrapped = {n.removesuffix(".lora_A") for n, _ in peft_model.named_modules() if n.endswith(".lora_A")}
    assert {n.removeprefix("base_model.model.") for n in wrapped} == set(composed.layers)
    with torch.no_grad():
        torch.testing.assert_close(peft_model(x).logits, nested, atol=1e-5, rtol=0)

    save_merged(composed, None, tmp_path / "merged")
    merged = load_model(str(tmp_path / "merged"))
    assert not any("lora" in n or "base_layer" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(x).logits, nested, atol=1e-5, rtol=0)


def test_stage_one_folder_is_a_plain_peft_lora(tmp_path: Path) -> None:
    from peft import PeftModel

    base_dir = save_tiny("llama", tmp_path / "base")
    model = load_model(str(base_dir))
    adapter = MSFTAdapter.inject(model, MSFTConfig(**CFG), [1, 2])
    randomize_adapters(adapter)
    save_run(tmp_path / "run", adapter, str(base_dir))
    x = batch()
    stage1_only = load_model(str(base_dir))
    load_run(stage1_only, tmp_path / "run", upto=1)
    peft_model = PeftModel.from_pretrained(load_model(str(base_dir)), tmp_path / "run" / "stage1").eval()
    with torch.no_grad():
        torch.testing.assert_close(peft_model(x).logits, stage1_only(x).logits, atol=1e-6, rtol=0)
    cfg = json.loads((tmp_path / "run" / "stage1" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8 and sorted(cfg["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_bad_runs_fail_clearly(tmp_path: Path) -> None:
    base_dir = save_tiny("llama", tmp_path / "base")
    model = load_model(str(base_dir))
    adapter = MSFTAdapter.inject(model, MSFTConfig(**CFG), [1, 2, 3])
    save_run(tmp_path / "run", adapter, str(base_dir))

    other = save_tiny("qwen2", tmp_path / "other")
    with pytest.raises(RunError, match="different base model.*model_type: run 'llama' vs model 'qwen2'"):
        load_run(load_model(str(other)), tmp_path / "run")

    meta_path = tmp_path / "run" / "msft.json"
    meta = json.loads(meta_path.read_text())
    meta["stages"] = [1, 3]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match=r"stage III needs stage II"):
        load_run(load_model(str(base_dir)), tmp_path / "run")

    with pytest.raises(RunError, match="not an MSFT run folder"):
        load_run(load_model(str(base_dir)), tmp_path)


def test_resolve_model_alias_and_paths(tmp_path: Path) -> None:
    src = resolve_model("smollm2-135m")
    assert src.gguf_file and src.gguf_file.endswith(".gguf") and src.describe() == "smollm2-135m"
    assert resolve_model(str(tmp_path)).name_or_path == str(tmp_path)
    assert resolve_model("org/some-model", check_hub=False).name_or_path == "org/some-model"
    with pytest.raises(FileNotFoundError):
        resolve_model("./does/not/exist")


def test_packaged_smollm2_is_what_the_tiny_gguf_stands_in_for_and_takes_msft() -> None:
    """The packaged GGUF's header (no tensor data read): a Llama whose tensors are F32, Q8_0 and
    Q4_1, the types the tiny GGUF of the next test de-quantizes, and whose shapes take MSFT with the
    parameter count of the paper's table, built on the meta device (no weights). Loading and
    de-quantizing the whole 135M model is ``bench/bench_packaged_model.py`` (35-43 s; issue 22)."""
    import gguf
    import transformers

    from formulaforge.models.loading import resolve_model

    src = resolve_model("smollm2-135m")
    reader = gguf.GGUFReader(str(Path(src.name_or_path) / src.gguf_file))

    def field(key: str):
        return reader.fields[key].contents()

    assert field("general.architecture") == "llama"
    assert {t.tensor_type.name for t in reader.tensors} == {"F32", "Q8_0", "Q4_1"}
    shape = {"hidden_size": field("llama.embedding_length"), "num_hidden_layers": field("llama.block_count"),
             "num_attention_heads": field("llama.attention.head_count"),
             "num_key_value_heads": field("llama.attention.head_count_kv"),
             "intermediate_size": field("llama.feed_forward_length")}
    assert shape == {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                     "intermediate_size": 1536}
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(vocab_size=49152, **shape))
    adapter = MSFTAdapter.inject(model, MSFTConfig(), [1, 2, 3])
    assert len(adapter.layers) == 30 * 4
    assert adapter.param_report()[0].new_params == 7_372_800  # 30 layers x (q,o: 576->576; k,v: 576->192), r1 64


def test_gguf_dequantized_once_then_cached(tmp_path, monkeypatch) -> None:
    """A quantized GGUF is de-quantized once into an fp32 safetensors copy, which later loads read
    (identical weights and tokenizer). A tiny Q8_0/Q4_1 Llama written in code stands in for the
    packaged 135M model, whose full conversion is a benchmark, not a unit test (issue 22)."""
    import gguf
    import torch
    from gguf_helpers import write_tiny_llama_gguf

    from formulaforge.models.loading import dequantized_cache_dir, load_model, load_tokenizer, resolve_model

    monkeypatch.setenv("FORMULAFORGE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "tiny").mkdir()
    gguf_path = write_tiny_llama_gguf(tmp_path / "tiny" / "tiny.gguf")
    src = resolve_model(str(gguf_path))
    first = load_model(src)
    cache = dequantized_cache_dir(src)
    assert cache is not None and (cache / "model.safetensors").is_file()
    # the de-quantized weights are the Q8_0 blocks as gguf's own reader decodes them
    reader = gguf.GGUFReader(str(gguf_path))
    tensors = {t.name: t for t in reader.tensors}
    for name, weight in (("blk.1.attn_v.weight", first.model.layers[1].self_attn.v_proj.weight),
                         ("blk.0.ffn_up.weight", first.model.layers[0].mlp.up_proj.weight)):
        raw = tensors[name]
        expected = torch.from_numpy(gguf.quants.dequantize(raw.data, raw.tensor_type).copy())
        assert torch.equal(weight.detach(), expected.reshape(weight.shape)), name
    assert {tensors[n].tensor_type.name for n in ("blk.1.attn_v.weight", "blk.0.ffn_up.weight")} == {"Q8_0", "Q4_1"}
    tok_ids = load_tokenizer(src)("\\frac{a}{b}")["input_ids"]
    # the second load reads the fp32 copy, not the GGUF, and gives the same model
    import transformers

    calls: list[tuple[str, dict]] = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(path, **kwargs):
        calls.append((str(path), kwargs))
        return real(path, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    second = load_model(src)
    assert calls == [(str(cache), calls[0][1])] and "gguf_file" not in calls[0][1]
    for (n1, p1), (n2, p2) in zip(first.state_dict().items(), second.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert load_tokenizer(src)("\\frac{a}{b}")["input_ids"] == tok_ids
    monkeypatch.setenv("FORMULAFORGE_CACHE", "off")
    assert dequantized_cache_dir(src) is None


def test_save_merged_guards_its_folder_and_writes_a_clean_checkpoint(tmp_path: Path) -> None:
    """Mutation gaps of merge.py (issue 22): the --force default, the marker kind, the quantization
    entry and the tokenizer."""
    from msft_helpers import tiny_tokenizer

    from formulaforge.utils.atomic import MARKER, OutputExistsError, output_kind

    def adapter() -> MSFTAdapter:
        model = load_model(str(save_tiny("llama", tmp_path / "base")))
        ad = MSFTAdapter.inject(model, MSFTConfig(mode="paper", **CFG), [1])
        randomize_adapters(ad)
        model.config.quantization_config = {"quant_method": "bitsandbytes"}  # as a quantized base has
        return ad

    out = tmp_path / "merged"
    save_merged(adapter(), tiny_tokenizer(), out)
    assert output_kind(out) == "merged-model"
    config = json.loads((out / "config.json").read_text())
    assert config.get("quantization_config") is None  # merged weights are plain: a loader must not quantize them
    assert (out / "tokenizer.json").is_file() and (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin"))  # never pickle
    save_merged(adapter(), None, out)  # an earlier merged export is replaced without --force
    assert not (out / "tokenizer.json").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="refusing to replace it"):
        save_merged(adapter(), None, mine)
    assert (mine / "notes.txt").read_text() == "keep" and not (mine / MARKER).exists()
    save_merged(adapter(), None, mine, force=True)
    assert output_kind(mine) == "merged-model"
