"""Regenerate the bad-input corpus: ``python tests/bad_inputs/make_corpus.py``.

Writes ``manifests/*.yaml`` (broken manifests; each replaces the project's ``shop.yaml``) and
``sources/*`` (broken data files; each becomes the ``products`` dataset's source).  The
expectations (file:line and message of each case) live in ``cases.yaml``, kept by hand.
Binary oddities (NUL bytes, BOMs, mixed encodings) are why the files are generated.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = (HERE / "base.yaml").read_text(encoding="utf-8")
GOOD = "sku,name,qty,price\nA-1,cup,3,10.00\nA-2,glass,1,12.50\n"


def manifest(name: str, text: str | bytes) -> None:
    path = HERE / "manifests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def source(name: str, data: str | bytes) -> None:
    path = HERE / "sources" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


# -- manifests -----------------------------------------------------------------------------------
manifest("yaml_tab.yaml", swap("    key: [sku]", "\tkey: [sku]"))
manifest("yaml_unclosed_bracket.yaml", swap("key: [sku]", "key: [sku"))
manifest("yaml_unclosed_quote.yaml", swap("name: products", 'name: "products'))
manifest("yaml_bad_indent.yaml", swap("    mode: upsert", "      mode: upsert"))
manifest("yaml_duplicate_key.yaml", swap("    mode: upsert", "    mode: upsert\n    mode: append"))
manifest("yaml_not_mapping.yaml", "- just\n- a\n- list\n")
manifest("yaml_scalar.yaml", "hello\n")
manifest("yaml_empty.yaml", "")
manifest("yaml_only_comment.yaml", "# nothing here\n")
manifest("yaml_nul_byte.yaml", BASE.replace("name: products", "name: prod\x00ucts").encode())
manifest("yaml_latin1.yaml", swap("name: string", "name: string  # caf\u00e9").encode("latin-1"))
manifest("yaml_utf16.yaml", BASE.encode("utf-16"))
manifest("yaml_anchor_bomb.yaml", 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
         + "".join(f'{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},'
                   f'*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n'
                   for i in range(8)) + BASE)
manifest("yaml_python_tag.yaml", swap("name: products", "name: !!python/object/apply:os.system [echo]"))
manifest("wrong_version.yaml", swap("version: 1", "version: 2"))
manifest("version_string.yaml", swap("version: 1", "version: one"))
manifest("unknown_top_key.yaml", swap("version: 1", "version: 1\nextras: true"))
manifest("unknown_dataset_key.yaml", swap("    mode: upsert", "    mode: upsert\n    modee: upsert"))
manifest("unknown_target_key.yaml", swap("  path: ../build/target.db", "  path: ../build/target.db\n  pathh: x"))
manifest("unknown_target_type.yaml", swap("type: sqlite", "type: oracle"))
manifest("missing_target.yaml", "version: 1\ndatasets: []\n")
manifest("datasets_not_list.yaml", swap("datasets:", "datasets: products\nunused:"))
manifest("mode_bad.yaml", swap("mode: upsert", "mode: merge"))
manifest("mode_list.yaml", swap("mode: upsert", "mode: [upsert]"))
manifest("upsert_without_key.yaml", swap("    key: [sku]\n", ""))
manifest("key_empty_list.yaml", swap("key: [sku]", "key: []"))
manifest("key_empty_string.yaml", swap("key: [sku]", 'key: ""'))
manifest("key_not_a_column.yaml", swap("key: [sku]", "key: [code]"))
manifest("column_type_bad.yaml", swap("qty: integer", "qty: int64"))
manifest("column_type_number.yaml", swap("qty: integer", "qty: 5"))
manifest("vector_without_dim.yaml", swap("price: float", "price: vector"))
manifest("vector_dim_zero.yaml", swap("price: float", "price: {type: vector, dim: 0}"))
manifest("dim_on_string.yaml", swap("name: string", "name: {type: string, dim: 3}"))
manifest("max_delete_bad.yaml", swap("    key: [sku]", "    key: [sku]\n    max_delete: lots"))
manifest("dataset_name_bad.yaml", swap("name: products", "name: ../products"))
manifest("dataset_name_empty.yaml", swap("name: products", 'name: ""'))
manifest("duplicate_dataset.yaml", BASE + BASE.split("datasets:\n", 1)[1])
manifest("source_missing.yaml", swap("../data/products.csv", "../data/missing.csv"))
manifest("source_empty_path.yaml", swap("source: ../data/products.csv", 'source: ""'))
manifest("source_no_extension.yaml", swap("../data/products.csv", "../data/products"))
manifest("source_escapes_root.yaml", swap("../data/products.csv", "../../../../../../etc/passwd"))
manifest("source_escapes_absolute.yaml", swap("../data/products.csv", "/etc/hostname"))
manifest("source_glob_escapes.yaml", swap("../data/products.csv", "../../*.csv"))
manifest("source_symlink_outside.yaml", swap("../data/products.csv", "../data/outside.csv"))
manifest("source_is_directory.yaml", swap("../data/products.csv", "../data"))
manifest("encoding_unknown.yaml", swap("source: ../data/products.csv",
                                       "source: {path: ../data/products.csv, encoding: utf-99}"))
manifest("delimiter_two_chars.yaml", swap("source: ../data/products.csv",
                                          "source: {path: ../data/products.csv, delimiter: ';;'}"))
manifest("format_unknown.yaml", swap("source: ../data/products.csv",
                                     "source: {path: ../data/products.csv, format: xlsx}"))
manifest("unset_variable.yaml", swap("../build/target.db", "../build/${SYNCER_BAD_INPUT_UNSET}/t.db"))


# -- sources -------------------------------------------------------------------------------------
source("empty.csv", "")
source("blank_lines.csv", "\n\n\n")
source("header_only_blank_name.csv", "sku,,qty,price\nA-1,cup,3,1\n")
source("header_duplicate.csv", "sku,name,name,price\nA-1,cup,x,1\n")
source("ragged_short.csv", GOOD + "B-1,pot,7\n")
source("ragged_long.csv", GOOD + "B-1,pot,7,1,extra\n")
source("unclosed_quote.csv", GOOD + 'B-1,"pot,7,1\nB-2,pan,1,1\n')
source("nul_byte.csv", (GOOD + "B-1,p\x00t,7,1\n").encode())
source("latin1.csv", (GOOD + "B-1,caf\u00e9,7,1\n").encode("latin-1"))
source("mixed_encodings.csv", GOOD.encode() + "B-1,caf\u00e9,7,1\n".encode("utf-8")
       + "B-2,th\u00e9,7,1\n".encode("cp1252"))
source("utf16_bom.csv", ("\ufeff" + GOOD).encode("utf-16-le"))
source("duplicate_key.csv", GOOD + "A-1,again,1,1\n")
source("empty_key.csv", GOOD + ",nokey,1,1\n")
source("bad_integer.csv", GOOD + "B-1,pot,seven,1\n")
source("bad_float.csv", GOOD + "B-1,pot,7,1;5\n")
source("missing_key_column.csv", "code,name,qty,price\nA-1,cup,3,1\n")
source("bom_then_latin1.csv", b"\xef\xbb\xbf" + (GOOD + "B-1,caf\u00e9,7,1\n").encode("latin-1"))
source("empty.json", "")
source("not_list.json", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n')
source("scalar.json", '"rows"\n')
source("list_of_lists.json", '[\n  {"sku": "A-1", "name": "cup", "qty": 3, "price": 1},\n  ["B-1", "pot"]\n]\n')
source("truncated.json", '[\n  {"sku": "A-1", "name": "cup", "qty": 3, "price": 1},\n  {"sku": "B-1"\n')
source("nul_byte.json", '[{"sku": "A-1", "name": "c\x00p", "qty": 3, "price": 1}]\n')
source("bad_integer.json", '[\n  {"sku": "A-1", "name": "cup", "qty": 3.5, "price": 1}\n]\n')
source("nan.json", '[\n  {"sku": "A-1", "name": "cup", "qty": NaN, "price": 1}\n]\n')
source("bad_line.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n{"sku": "B-1",\n')
source("array_line.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n[1, 2]\n')
source("latin1.jsonl", '{"sku": "A-1", "name": "caf\u00e9", "qty": 3, "price": 1}\n'.encode("latin-1"))
source("duplicate_key.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n'
       '{"sku": "A-1", "name": "mug", "qty": 3, "price": 1}\n')
source("null_key.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n'
       '{"sku": null, "name": "mug", "qty": 3, "price": 1}\n')
source("not_parquet.parquet", GOOD)
source("truncated.parquet", b"PAR1\x00\x00\x00garbage")
source("empty.parquet", b"")
source("vector_wrong_dim.jsonl", '{"sku": "A-1", "vec": [1, 2, 3]}\n{"sku": "A-2", "vec": [1, 2]}\n')
source("vector_not_numbers.jsonl", '{"sku": "A-1", "vec": [1, 2, 3]}\n{"sku": "A-2", "vec": ["a", 2, 3]}\n')


# -- issue 18: hostile inputs, one or more per class ---------------------------------------------
# nesting depth
manifest("yaml_deep_flow_list.yaml", BASE + "extra: " + "[" * 1000 + "]" * 1000 + "\n")
# 300 levels (45 KB; the 3,000 of issue 18 would be a 4.5 MB file: tests/test_hostile_inputs.py
# builds that one at run time)
manifest("yaml_deep_block_mapping.yaml", BASE + "extra:\n"
         + "".join(" " * (depth + 1) + f"k{depth}:\n" for depth in range(300)))
source("deep_nesting.json", "[\n" + "[" * 100_000 + "\n")
source("deep_nesting.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}\n' + "[" * 100_000 + "\n")
source("empty_objects.json", "[{}, {}]\n")
# size limits
source("untyped_header_name_too_long.csv", "sku," + "n" * 140_000 + "\nA-1,x\n")
source("nul_bytes_only.csv", b"\x00" * 200_000)
source("untyped_too_many_columns.csv",
       ",".join(["sku", *(f"c{i}" for i in range(2100))]) + "\n" + ",".join(["A-1"] * 2101) + "\n")
# encodings: utf-16 without a byte order mark; a Parquet column without a name
manifest("encoding_utf16_without_bom.yaml", swap(
    "source: ../data/products.csv", "source: {path: ../data/products.csv, encoding: utf-16}"))
manifest("encoding_utf32_without_bom.yaml", swap(
    "source: ../data/products.csv", "source: {path: ../data/products.csv, encoding: utf-32}"))


def parquet(name: str, columns: dict[str, list[object]]) -> None:
    import io

    import polars as pl

    buffer = io.BytesIO()
    pl.DataFrame(columns).write_parquet(buffer)
    source(name, buffer.getvalue())


parquet("column_without_name.parquet", {"sku": ["A-1"], "": ["x"], "qty": [1], "price": [1.0],
                                        "name": ["cup"]})
# syncer's internal column names, and names the target cannot hold
for internal in ("__k", "__h", "__src", "__row", "__kh", "__op"):
    source(f"untyped_column_{internal}.csv", f"sku,{internal}\nA-1,1\nA-2,2\n")
source("untyped_column___at.json", '[{"sku": "A-1", "__at": 1}]\n')
manifest("column_reserved_name.yaml", swap("      price: float", "      price: float\n      __k: string"))
manifest("column_from_row_number.yaml", swap("      price: float",
                                             "      price: float\n      extra: {from: __row}"))
manifest("column_case_duplicate.yaml", swap("      price: float",
                                            "      price: float\n      Name: {from: name}"))
source("untyped_header_case_duplicate.csv", "sku,Name,name\nA-1,x,y\n")
# reserved target names
manifest("table_syncer_batches.yaml", swap("    mode: upsert", "    table: _syncer_batches\n    mode: upsert"))
manifest("table_syncer_any_case.yaml", swap("    mode: upsert", "    table: _SYNCER_Runs\n    mode: upsert"))
manifest("table_syncer_key_index.yaml", swap("    mode: upsert", "    table: products_syncer_key\n    mode: upsert"))
manifest("dataset_named_syncer.yaml", swap("name: products", "name: _syncer_batches"))
# NaN and infinities in typed columns
source("nan.csv", GOOD + "B-1,pot,7,nan\n")
source("infinity.csv", GOOD + "B-1,pot,7,-inf\n")
source("nan_float.json", '[\n  {"sku": "A-1", "name": "cup", "qty": 3, "price": NaN}\n]\n')
source("overflow_float.jsonl", '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1e999}\n')
source("vector_nan.jsonl", '{"sku": "A-1", "vec": [1, 2, 3]}\n{"sku": "A-2", "vec": [1, NaN, 3]}\n')
# contradictory CSV options, malformed ${...}, secrets in names and paths
manifest("quotechar_is_delimiter.yaml", swap(
    "source: ../data/products.csv", "source: {path: ../data/products.csv, delimiter: ';', quotechar: ';'}"))
manifest("quotechar_is_default_delimiter.yaml", swap(
    "source: ../data/products.csv", "source: {path: ../data/products.csv, quotechar: ','}"))
manifest("delimiter_line_break.yaml", swap(
    "source: ../data/products.csv", 'source: {path: ../data/products.csv, delimiter: "\\n"}'))
manifest("variable_unterminated.yaml", swap("../build/target.db", "'../build/${UNTERM'"))
manifest("variable_bad_name.yaml", swap("../build/target.db", "'../build/${1BAD}/t.db'"))
manifest("variable_in_table.yaml", swap("    mode: upsert", "    table: t_${HOME}\n    mode: upsert"))
manifest("variable_in_source_path.yaml", swap("../data/products.csv", "../data/${HOME}.csv"))
manifest("variable_in_target_name.yaml", swap("name: shop", "name: ${HOME}"))
