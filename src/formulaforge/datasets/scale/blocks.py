"""datatrove pipeline blocks: paper reader -> metadata filter -> FormulaForge extraction -> stage writer.

A datatrove ``Document`` is one *paper* between the reader and the extraction (its bytes
travel in the spec) and one *triplet* after it: ``text`` is the two contexts, which is what
the MinHash signature block hashes, and ``metadata["row"]`` is the dataset row. Each task
also writes one summary line per paper (``docs/RANK.jsonl``: skip reasons, errors, counts,
licence) that the assembly turns into the manifest.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseReader
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from formulaforge.datasets.builder import BuildConfig, DocResult, process_document, triplet_rows
from formulaforge.datasets.extract import Settings
from formulaforge.datasets.scale.plan import Plan
from formulaforge.datasets.splits import split_of
from formulaforge.sources.archive import ArchiveError
from formulaforge.sources.arxiv_bulk import iter_bulk_tar
from formulaforge.sources.arxiv_metadata import PaperFilter, PaperMeta, load_metadata
from formulaforge.sources.latex_docs import LatexDocSpec

FILE_ERROR_MEMBER = 2**62  # order key for a tar-level error: after every member of that tar

# MinHash near-duplicate settings (documented in docs/datasets.md). 5-word shingles of the two
# contexts, 14 bands of 8 hashes: two contexts with word-5-gram Jaccard similarity s are paired with
# probability 1 - (1 - s**8)**14 (0.05 at s = 0.5, 0.5 at s ~ 0.68, 0.92 at s = 0.8, 0.9996 at s = 0.9). Text
# normalisation is datatrove's (lower case, punctuation -> space, digits -> 0) without the Unicode
# diacritics pass: contexts are LaTeX source, mostly ASCII, and that per-character pass is costly.
# sha1, not xxhash: datatrove's xxhash wrapper hands str to xxhash, which xxhash>=4 refuses.
MINHASH = MinhashConfig(
    n_grams=5,
    num_buckets=14,
    hashes_per_bucket=8,
    seed=1,
    norm_config=TextNormConfig(norm_unicode_diacritics=False),
    hash_config=HashConfig(64, "sha1"),
)


class WhitespaceWords(WordTokenizer):
    """Word splitter for MinHash shingles. datatrove's English default needs NLTK data downloads;
    after its own normalisation (lower case, no punctuation) splitting on spaces is all we need."""

    def __init__(self) -> None:
        super().__init__("formulaforge-whitespace")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


class PaperReader(BaseReader):
    """Yields one Document per paper of this task's share of the plan (bulk members or documents)."""

    name = "FormulaForge papers"

    def __init__(
        self,
        plan: Plan,
        storage_options: dict[str, Any] | None = None,
        metadata_url: str | None = None,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.storage_options = storage_options or {}
        self.metadata_url = metadata_url

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        meta = load_metadata(self.metadata_url, self.storage_options) if self.metadata_url else None
        for i, item, part in self.plan.share(rank, world_size):
            if item.kind == "spec":
                spec = item.spec
                self.stat_update("papers")
                yield Document(spec.doc_id, spec.doc_id, metadata={"order": [i, 0], "spec": spec})
                continue
            yield from self._bulk(i, item.url, item.source, part, meta)

    def _bulk(
        self, i: int, url: str, source: str, part: tuple[int, int] | None, meta: dict[str, PaperMeta] | None
    ) -> Iterator[Document]:
        label = posixpath.basename(url)
        collection = label.removesuffix(".tar")

        def select(index: int) -> bool:
            return part is None or index % part[1] == part[0]

        try:
            for m in iter_bulk_tar(url, self.storage_options, select):
                doc_id = m.paper_id or f"{label}/{m.name}"
                md: dict[str, Any] = {"order": [i, m.index], "source": source, "collection": collection}
                if meta is not None:
                    md["arxiv"] = meta.get(m.paper_id or "")
                if m.skipped:
                    md["skipped"] = m.skipped
                    self.stat_update("papers_skipped")
                else:
                    md["spec"] = LatexDocSpec(
                        doc_id, source, "archive", m.name, None, collection, data=m.data
                    )
                self.stat_update("papers")
                yield Document(doc_id, doc_id, metadata=md)
        except (ArchiveError, OSError) as exc:
            self.stat_update("bulk_tars_unreadable")
            md = {"order": [i, FILE_ERROR_MEMBER], "source": source, "file_error": str(exc), "file": url}
            yield Document(label, label, metadata=md)


class MetadataFilter(BaseFilter):
    """Category and licence filters from the arXiv metadata snapshot (drop reasons land in the stats)."""

    name = "arXiv category / licence"

    def __init__(self, paper_filter: PaperFilter) -> None:
        super().__init__()
        self.paper_filter = paper_filter

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if "file_error" in doc.metadata:
            return True
        why = self.paper_filter.reason(doc.metadata.get("arxiv"))
        return True if why is None else (False, why)


class ExtractTriplets(PipelineStep):
    """Runs :func:`process_document` (the ``data build`` extraction) on each paper; yields its triplets."""

    type = "FormulaForge"
    name = "ContextFormulas extraction"

    def __init__(self, docs_folder: str, cfg: BuildConfig) -> None:
        super().__init__()
        self.docs_folder = docs_folder
        self.cfg = cfg

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.cfg
        settings = Settings(min_context_tokens=cfg.min_context_tokens, keep_diagrams=cfg.keep_diagrams)
        folder = get_datafolder(self.docs_folder)
        with folder.open(f"{rank:05d}.jsonl", "wt") as summary:
            for doc in data:
                with self.track_time():
                    record, rows = self._paper(doc, settings)
                    summary.write(json.dumps(record, ensure_ascii=False) + "\n")
                order = record["order"]
                for t, row in enumerate(rows):
                    self.stat_update("triplets")
                    text = row["context_before"] + "\n" + row["context_after"]
                    yield Document(text, row["id"], metadata={"order": [*order, t], "row": row})

    def _paper(self, doc: Document, settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        md = doc.metadata
        record: dict[str, Any] = {"order": md["order"], "doc_id": doc.id, "source": md.get("source", "")}
        meta: PaperMeta | None = md.get("arxiv")
        if "arxiv" in md:
            record["license"] = meta.license if meta else None
            record["categories"] = list(meta.categories) if meta else None
        if "file_error" in md:
            record.update(file_error=md["file_error"], file=md["file"])
            return record, []
        if "skipped" in md:
            record.update(collection=md.get("collection", ""), skipped=md["skipped"], sha256="", bytes=0)
            self.stat_update("papers_skipped")
            return record, []
        res: DocResult = process_document(md["spec"], settings, self.cfg.tokenizer)
        record.update(
            doc_id=res.doc_id,
            source=res.source,
            collection=res.collection,
            sha256=res.sha256,
            bytes=res.n_bytes,
            errors=res.errors,
            stats=res.stats,
        )
        if res.skipped is not None:
            record["skipped"] = res.skipped
            self.stat_update("papers_skipped")
            return record, []
        split = split_of(res.doc_id, self.cfg.seed, self.cfg.split_fractions)
        rows = list(triplet_rows(res, split))
        clipped = sum(row.pop("_clipped") for row in rows)
        if clipped:
            self.stat_update("contexts_clipped", value=clipped)
        record.update(split=split, rows=len(rows))
        self.stat_update("papers_extracted")
        return record, rows


def stage_writer(folder: str, fmt: str) -> PipelineStep:
    """datatrove's JSONL or Parquet writer for the per-task triplet rows (one file per task)."""
    if fmt == "parquet":
        from datatrove.pipeline.writers import ParquetWriter

        return ParquetWriter(
            folder,
            output_filename="${rank}.parquet",
            adapter=_stage_row,
            schema=stage_schema(),
            max_file_size=-1,
        )
    from datatrove.pipeline.writers import JsonlWriter

    # uncompressed: the files are temporary, and gzip level 9 over every row is a visible share of the CPU
    return JsonlWriter(folder, output_filename="${rank}.jsonl", compression=None, adapter=_stage_row)


def stage_reader(folder: str, fmt: str) -> BaseReader:
    """The matching datatrove reader (the assembly reads one task's file at a time, in order)."""
    if fmt == "parquet":
        from datatrove.pipeline.readers import ParquetReader

        return ParquetReader(folder, adapter=_row_document)
    from datatrove.pipeline.readers import JsonlReader

    return JsonlReader(folder, compression=None, adapter=_row_document)


def stage_filename(rank: int, fmt: str) -> str:
    return f"{rank:05d}.parquet" if fmt == "parquet" else f"{rank:05d}.jsonl"


def _stage_row(self: Any, document: Document) -> dict[str, Any]:
    return {"order": document.metadata["order"], **document.metadata["row"]}


def _row_document(self: Any, data: dict[str, Any], path: str, id_in_file: int | str) -> dict[str, Any]:
    return {"text": "-", "id": data["id"], "metadata": data}


def stage_schema() -> Any:
    import pyarrow as pa

    s = pa.string()
    offsets = pa.struct([(k, pa.int64()) for k in ("char_start", "char_end", "line_start", "line_end")])
    names = ("id", "doc_id", "source", "collection", "source_file", "env", "formula")
    cols = [("order", pa.list_(pa.int64())), *[(n, s) for n in names]]
    cols += [("context_before", s), ("context_after", s), ("split", s), ("subset", s), ("offsets", offsets)]
    return pa.schema(cols)
