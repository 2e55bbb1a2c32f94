"""What a RecBole model's constructor sees when it is built by our pipeline instead of RecBole's.

RecBole models are constructed as ``Model(config, dataset)``. ``config`` is RecBole's own
``Config`` (so every model gets exactly RecBole's default hyperparameters plus ours), and
``dataset`` is ``TrainDatasetView``: the attributes RecBole models read from a training
dataset (sizes, the interaction matrix, history matrices), computed from our tensors with
the same index convention (0 = padding). A model that needs more gets a clear error that
names the attribute and says to run it through RecBole's own pipeline instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data.tensors import DatasetTensors, Ragged

USER_FIELD, ITEM_FIELD = "user_id", "item_id"


class TrainDatasetView:
    def __init__(self, tensors: DatasetTensors, model_name: str = "model"):
        self._t = tensors
        self._model = model_name
        self.uid_field, self.iid_field = USER_FIELD, ITEM_FIELD
        self.user_num = tensors.n_users + 1
        self.item_num = tensors.n_items + 1
        self.inter_num = len(tensors.train.items)
        self.dataset_name = tensors.ds.name

    def num(self, field: str) -> int:
        if field == USER_FIELD:
            return self.user_num
        if field == ITEM_FIELD:
            return self.item_num
        raise AttributeError(self._unsupported(f"num({field!r})"))

    def inter_matrix(self, form: str = "coo", value_field=None):
        if value_field is not None:
            raise AttributeError(self._unsupported(f"inter_matrix(value_field={value_field!r})"))
        users, items = self._t.train_pairs()
        m = sp.coo_matrix((np.ones(len(users), dtype=np.float32), (users.numpy(), items.numpy())),
                          shape=(self.user_num, self.item_num))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m.asformat(form)

    @staticmethod
    def _history(r: Ragged, max_history_len=None):
        lengths = r.lengths
        width = int(lengths.max()) if max_history_len is None else int(max_history_len)
        width = max(width, 1)
        seq, length = r.last(width)
        return seq, torch.ones_like(seq, dtype=torch.float32) * (seq > 0), length

    def history_item_matrix(self, value_field=None, max_history_len=None):
        return self._history(self._t.train, max_history_len)

    def history_user_matrix(self, value_field=None, max_history_len=None):
        users, items = self._t.train_pairs()
        order = np.argsort(items.numpy(), kind="stable")
        counts = np.bincount(items.numpy(), minlength=self.item_num)
        r = Ragged(indptr=np.concatenate([[0], np.cumsum(counts)]), items=users.numpy()[order])
        return self._history(r, max_history_len)

    def _unsupported(self, what: str) -> str:
        return (f"{self._model} needs dataset.{what}, which recsys's training view does not provide; "
                f"run it through RecBole's own pipeline instead (recsys train --via recbole)")

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(self._unsupported(name))


class ContextDatasetView:
    """The dataset a RecBole ``ContextRecommender`` sees in our pipeline: fields, their types and sizes.

    Every field is an interaction field (ids, side features, scenario, dense features, label),
    as RecBole's own dataset lists them after joining its user and item files.
    """

    def __init__(self, tensors, model_name: str = "model"):
        from recbole.utils import FeatureType

        from recsys.data.context_tensors import LABEL_FIELD

        self._t = tensors
        self._model = model_name
        self.uid_field, self.iid_field, self.label_field = USER_FIELD, ITEM_FIELD, LABEL_FIELD
        self.field2type = {f: FeatureType.TOKEN for f in tensors.token_fields}
        self.field2type.update({f: FeatureType.FLOAT for f in tensors.float_fields})
        self.field2type[LABEL_FIELD] = FeatureType.FLOAT
        self.user_num = tensors.num(USER_FIELD) if USER_FIELD in tensors.vocab else tensors.n_users + 1
        self.item_num = tensors.num(ITEM_FIELD) if ITEM_FIELD in tensors.vocab else tensors.n_items + 1
        self.dataset_name = tensors.ds.name

    def fields(self, ftype=None, source=None) -> list[str]:
        names = list(self.field2type)
        return [f for f in names if ftype is None or self.field2type[f] in ftype]

    def num(self, field: str) -> int:
        if field not in self.field2type:
            raise AttributeError(f"{self._model}: no field {field!r}; fields: {list(self.field2type)}")
        return self._t.num(field) if field != self.label_field else 1

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"{self._model} needs dataset.{name}, which recsys's CTR view does not provide; "
                             "run it through RecBole's own pipeline instead (recsys train --via recbole)")
