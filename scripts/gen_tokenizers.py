#!/usr/bin/env python3
"""Write small tokenizer.json files of the three families real ColBERT checkpoints use, trained on
SciFact text, and the ids Python `tokenizers` gives for hard strings, so the Rust and wasm builds can
be pinned to them:

- wordpiece: BERT (colbertv2.0, answerai-colbert-small-v1): lower-casing BERT normaliser, WordPiece.
- bpe: byte-level BPE as the ModernBERT family ships it (GTE-ModernColBERT-v1, mxbai-edge-colbert):
  [CLS]/[SEP]/[MASK]/[PAD] specials; 2048 ids in all so it pairs with the ModernBERT export fixtures.
- unigram: SentencePiece Unigram as the XLM-R family ships it (<s>, </s>, <pad>, <mask>, Metaspace).

WordPiece and BPE output is byte-identical run to run; Unigram's is not (see canonical()).

Each gets PyLate's markers "[Q] " and "[D] " added after the base vocabulary, as PyLate does when it
loads a checkpoint. Output: tests/fixtures/tokenizers/<family>.json (the tokenizer) and
<family>.ids.json ([{text, ids}] without special tokens).

usage: gen_tokenizers.py [SCIFACT_DIR]   (needs: tokenizers)
"""
import json
import os
import sys

# Training is parallel and ties then break in thread order: one thread makes the files reproducible.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_fixtures import TEXTS  # noqa: E402  (the same hard strings as the default bundle's fixture)

OUT = os.path.join(HERE, "..", "tests", "fixtures", "tokenizers")
PYLATE_MARKERS = ["[Q] ", "[D] "]
TOTAL_IDS = 2048  # the ModernBERT fixtures' embedding rows


def corpus(scifact_dir, limit=3000):
    with open(os.path.join(scifact_dir, "corpus.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= limit:
                return
            doc = json.loads(line)
            yield f"{doc['title']} {doc['text']}"


def wordpiece():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=TOTAL_IDS - len(PYLATE_MARKERS), special_tokens=specials)
    return tok, trainer, ("[CLS]", "[SEP]")


def bpe():
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOTAL_IDS - len(PYLATE_MARKERS),
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    return tok, trainer, ("[CLS]", "[SEP]")


def unigram():
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=TOTAL_IDS - len(PYLATE_MARKERS), special_tokens=specials, unk_token="<unk>"
    )
    return tok, trainer, ("<s>", "</s>")


def canonical(tok, specials_count):
    """The WordPiece trainer numbers pieces in hash-map order. Ids are only labels for WordPiece (its
    tokenisation reads pieces), so renumber the non-special pieces in sorted order: the file is then
    byte-identical run to run, as BPE's already is. Unigram is not made so: its trainer's scores and
    the order of its rarest pieces vary between runs (parallel EM, hash-map order); the committed
    unigram.json and its ids are the reference, and a regenerated pair is equally valid."""
    data = json.loads(tok.to_str())
    model = data["model"]
    if model["type"] == "WordPiece":
        items = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        head, rest = items[:specials_count], sorted(items[specials_count:])
        model["vocab"] = {piece: i for i, (piece, _) in enumerate(head + rest)}
    return Tokenizer.from_str(json.dumps(data, ensure_ascii=False))


def build(make, texts):
    tok, trainer, (cls, sep) = make()
    tok.train_from_iterator(texts, trainer=trainer)
    tok = canonical(tok, len(trainer.special_tokens))
    tok.add_tokens(PYLATE_MARKERS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    return tok


def main():
    scifact = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data", "scifact")
    texts = list(corpus(scifact))
    os.makedirs(OUT, exist_ok=True)
    strings = TEXTS[:150] + ["[Q] hello world", "[D] a note", "hello [MASK] world <mask>"]
    for name, make in [("wordpiece", wordpiece), ("bpe", bpe), ("unigram", unigram)]:
        tok = build(make, texts)
        tok.save(os.path.join(OUT, f"{name}.json"))
        cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in strings]
        with open(os.path.join(OUT, f"{name}.ids.json"), "w", encoding="utf-8") as f:
            json.dump(cases, f, ensure_ascii=False)
        print(f"{name}: {tok.get_vocab_size(with_added_tokens=True)} ids, {len(cases)} cases")


if __name__ == "__main__":
    main()
