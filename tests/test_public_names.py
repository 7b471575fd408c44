"""The one guard over the bad-input tables: every public name of every installed package has a row.

``test_every_public_name_has_a_row`` fails when a name is added to an ``__all__`` without
a row in its package's table (or an entry in that table's ``exempt`` saying why it takes
no input to check). It sees the table of every package installed here, wherever its suite
lives (``tests/_helpers/bad_input.py``'s ``TABLE_HOMES``): without ``abortkit_providers``
installed there are no provider names to cover, and the core suite runs on its own.
"""

from __future__ import annotations

import importlib

from tests._helpers.bad_input import TABLE_HOMES, Table, installed_packages, load_table


def _tables() -> list[Table]:
    return [load_table(package) for package in installed_packages()]


def _public_names(tables: list[Table]) -> set[str]:
    names: set[str] = set()
    for module in (importlib.import_module(table.package) for table in tables):
        names |= {f"{module.__name__}:{name}" for name in module.__all__}
    return names


def test_every_public_name_has_a_row() -> None:
    tables = _tables()
    assert {"abortkit", "abortkit.testing", "abortkit.asgi"} <= {table.package for table in tables}
    for table in tables:  # a row in another package's table would not run without that package
        foreign = [name for name in (*(row.covers for row in table.rows), *table.exempt, *table.required_methods)
                   if not name.startswith(f"{table.package}:")]
        assert not foreign, f"{TABLE_HOMES[table.package]} has rows for another package's names: {sorted(foreign)}"
    rows = [row for table in tables for row in table.rows]
    exempt = {name: why for table in tables for name, why in table.exempt.items()}
    required_methods = {name for table in tables for name in table.required_methods}
    public = _public_names(tables)
    covered = {row.covers for row in rows}
    missing = public - covered - set(exempt)
    assert not missing, f"public names without a bad-input row (add one, or an EXEMPT entry): {sorted(missing)}"
    stale = (covered | set(exempt)) - public - required_methods
    assert not stale, f"rows or exemptions for names that are not public any more: {sorted(stale)}"
    assert covered >= required_methods
    assert not covered & set(exempt), "a name is both exempt and covered"
    for name in exempt:
        module_name, _, attr = name.partition(":")
        module = importlib.import_module(module_name)
        value = getattr(module, attr)
        # Only non-callables, types and records may be exempt: a plain function never is.
        assert not (callable(value) and type(value).__name__ == "function"), f"{name} is a function: give it a row"


def test_row_ids_are_unique() -> None:
    ids = [row.id for table in _tables() for row in table.rows]
    assert len(ids) == len(set(ids))
