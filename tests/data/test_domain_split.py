"""Attribute-split cross-domain pairs: item domains from an attribute, validated recipes."""

import polars as pl
import pytest

from recsys.data import load_recipe_file, prepare
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecipeError
from tests.conftest import write


def _domain_of(ds, item_id):
    row = ds.items.filter(pl.col("item_id").cast(pl.String) == str(item_id))
    return row["domain"][0] if len(row) else None


def test_ml_genres_majority_rule_and_counts(shared_data):
    ds = prepare("cdr-ml-genres", shared_data, progress=False)
    assert ds.task == "cross_domain"
    assert _domain_of(ds, 1) == "heart"  # Toy Story: Adventure|Animation|Children|Comedy|Fantasy, 3 vs 2
    assert _domain_of(ds, 6) == "thrill"  # Heat: Action|Crime|Thriller
    assert _domain_of(ds, 2) == "thrill"  # Jumanji: Adventure|Children|Fantasy, 2 vs 1
    counts = ds.meta["stats"]["domains"]
    assert set(counts) == {"heart", "thrill"} and min(counts.values()) > 30_000
    assert ds.meta["domain_split"]["items_unassigned"] == 17  # "(no genres listed)" and the like, dropped
    assert ds.interactions["domain"].null_count() == 0
    from recsys.eval.domains import evaluate_by_domain

    t = DatasetTensors(ds)
    pop = t.item_popularity()
    import torch

    res = evaluate_by_domain(lambda users, h: torch.from_numpy(pop).float().expand(len(users), -1), t)
    assert res.summary["users|domain:heart"] + res.summary["users|domain:thrill"] == len(res.users)
    assert res.summary["ndcg@10|domain:heart"] > 0 and res.summary["ndcg@10|domain:thrill"] > 0


def test_yelp_first_rule_uses_the_top_level_category(shared_data):
    ds = prepare("cdr-yelp-categories", shared_data, progress=False)
    counts = ds.meta["domain_split"]["items_per_domain"]
    assert counts["restaurants"] > 3 * counts["services"] > 0
    assert _domain_of(ds, "19106") == "services"  # Automotive, Auto Repair, ...
    assert _domain_of(ds, "18687") == "restaurants"  # Restaurants, Burgers, Fast Food
    assert _domain_of(ds, "8691") == "services"  # Arts & Entertainment first, then Japanese, Bars


@pytest.mark.parametrize("change, key", [
    ('groups = { a = ["x"], b = ["x"] }', "domain_split.groups"),
    ('groups = { a = ["x"] }', "domain_split.groups"),
    ('groups = { a = ["x"], b = ["y"] }\nrule = "vote"', "domain_split.rule"),
    ('groups = { a = ["x"], b = ["y"] }\nother = "c"', "domain_split.other"),
])
def test_bad_domain_split_is_a_clear_recipe_error(tmp_path, change, key):
    write(tmp_path / "data/t/seq.txt", "\n".join(f"{u} 1 2 3 4 5" for u in range(1, 6)) + "\n")
    write(tmp_path / "data/t/attr.csv", "id,tag\n1,x\n2,y\n3,x\n4,y\n5,z\n")
    text = ('name = "t"\ndescription = "toy"\ntask = "cross_domain"\n[files.inter]\npath = "t/seq.txt"\n'
            '[files.attr]\npath = "t/attr.csv"\n[interactions]\nfile = "inter"\nformat = "s3rec_lines"\n'
            '[split]\nmethod = "leave_one_out"\n[domain_split]\nfile = "attr"\nformat = "csv"\nkey = "id"\n'
            'fields = { categories = "tag" }\n' + change + "\n")
    recipe = write(tmp_path / "t.toml", text)
    with pytest.raises(RecipeError, match=key.replace(".", r"\.")):
        prepare(load_recipe_file(recipe), tmp_path / "data", progress=False)


def test_unmatched_items_go_to_other_or_are_dropped(tmp_path):
    write(tmp_path / "data/t/seq.txt", "\n".join(f"{u} 1 2 3 4 5" for u in range(1, 6)) + "\n")
    write(tmp_path / "data/t/attr.csv", "id,tag\n1,x\n2,y\n3,x\n4,y\n5,z\n")
    base = ('name = "t"\ndescription = "toy"\ntask = "cross_domain"\n[files.inter]\npath = "t/seq.txt"\n'
            '[files.attr]\npath = "t/attr.csv"\n[interactions]\nfile = "inter"\nformat = "s3rec_lines"\n'
            '[split]\nmethod = "leave_one_out"\n[domain_split]\nfile = "attr"\nformat = "csv"\nkey = "id"\n'
            'fields = { categories = "tag" }\ngroups = { a = ["x"], b = ["y"] }\n')
    dropped = prepare(load_recipe_file(write(tmp_path / "t.toml", base)), tmp_path / "data", progress=False)
    assert dropped.meta["domain_split"]["items_unassigned"] == 1 and len(dropped.items) == 4
    kept = prepare(load_recipe_file(write(tmp_path / "t2.toml", base.replace('name = "t"', 'name = "t2"')
                                          + 'other = "b"\n')), tmp_path / "data", progress=False)
    assert _domain_of(kept, 5) == "b" and len(kept.items) == 5
