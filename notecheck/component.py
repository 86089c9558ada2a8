"""What the pipeline's own spaCy components share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from spacy.tokens import Doc
from spacy.util import minibatch


class BatchedComponent:
    """A spaCy component that runs over a batch of Docs before passing the batch on.

    ``nlp.pipe`` calls a component's ``pipe`` when it has one; without it, each Doc goes
    through every component before the next Doc starts, and the components keep pushing each
    other's code and lookup tables out of the processor's caches. One component over a whole
    batch, then the next, does the same work about 12% faster on long notes (issue 15). The
    Docs and their order are unchanged.
    """

    def __call__(self, doc: Doc) -> Doc:
        """Process one Doc (each component says how)."""
        raise NotImplementedError

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        """``self(doc)`` for each Doc, a batch at a time, in order."""
        for batch in minibatch(docs, batch_size):
            done = [self(doc) for doc in batch]
            yield from done
