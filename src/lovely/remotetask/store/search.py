"""The search index: the tags and words of jobs -> the ids of the jobs.

Operators look for jobs by a tag given at add, and by words of their
input (its JSON text), result and error.  The index is a BTree of terms
(``'#' + tag`` for a tag, the lower-cased word for a word) to a tree set
of job ids (or the id alone, for a term of one job), with each job's
terms by id beside it, to take a job out or index it again.

Its trees are written by the indexer alone (`indexing`), in transactions
of their own, after the drains: an add writes its job and the intake,
nothing here, so concurrent adds never conflict (nor, on RelStorage,
deadlock) on them.  A job that moves (finishes, fails, is retried)
passes through the intake again; the drain that files it notes it in
`Notes`, and the indexer indexes its words anew.  A removed job's id is
noted there too, and the indexer takes its terms out: the index holds
the jobs there are.  Drains, removers and the indexer all write `Notes`,
whose concurrent changes merge; only two indexers at once conflict.

A query is a tag and/or words: every one must match (AND), and a word of
a query matches every indexed word it begins (a prefix: a key range of
the BTree).  Only whole tags and word prefixes are searched; no phrases,
no substrings inside words.
"""
import heapq
import json
import re
from typing import Iterable, Mapping, Optional

from BTrees.IIBTree import IISet, IITreeSet, intersection, multiunion
from BTrees.IOBTree import IOBTree
from BTrees.OOBTree import OOBTree
from ZODB.POSException import ConflictError

from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.store.channels import REMOVED
from lovely.remotetask.store.intake import mergeMoved
from lovely.remotetask.store.versioning import Versioned

#: The most tags a job has, and the longest tag.
MAX_TAGS = 16
MAX_TAG_LENGTH = 64
#: Of each text (input, result, error), the characters indexed; of each
#: word, the characters kept; of a job, the most words indexed.
MAX_TEXT = 10000
MAX_WORD = 32
MAX_WORDS = 256
#: What a tag is: no whitespace (what `str.isspace` says, spelled out:
#: JSON Schema's ``\s`` is another set) nor commas.
TAG_PATTERN = (r'[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029'
               r'\u202f\u205f\u3000,]{1,%d}' % MAX_TAG_LENGTH)
#: The most moves of the intake (the newest) a query matches as they are.
FRESH_MOST = 2000
#: The longest query.
MAX_QUERY_LENGTH = 200
#: The most indexed words a word of a query may begin (each a set of
#: ids to load and merge).
MAX_PREFIX_TERMS = 1000
_WORD = re.compile(r'\w+')
_LAST = '\U0010ffff'


def checkTags(tags) -> tuple:
    """The tags given at add as a tuple (each once, in order), checked:
    at most MAX_TAGS strings matching TAG_PATTERN."""
    if tags is None:
        return ()
    if isinstance(tags, (str, bytes, Mapping)) or \
            not isinstance(tags, Iterable):
        raise InvalidArgumentError(
            f'tags is a list of strings, not {tags!r}')
    tags = list(tags)
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(
            f'a job has at most {MAX_TAGS} tags, not {len(tags)}')
    for tag in tags:
        if not isinstance(tag, str) or not re.fullmatch(TAG_PATTERN, tag):
            raise InvalidArgumentError(
                f'a tag is a string of 1 to {MAX_TAG_LENGTH} characters '
                f'without whitespace or commas, not {tag!r}')
    return tuple(dict.fromkeys(tags))


def queryWords(search) -> tuple:
    """The words of a query, lower-cased (none in one of none: it finds
    every job); InvalidArgumentError if it is no string or too long."""
    if not isinstance(search, str) or len(search) > MAX_QUERY_LENGTH:
        raise InvalidArgumentError(
            f'search must be a string of up to {MAX_QUERY_LENGTH} '
            f'characters, not {search!r}')
    return tuple(dict.fromkeys(
        word[:MAX_WORD] for word in _WORD.findall(search.lower())))


def _text(value) -> str:
    if value is None:
        return ''
    if isinstance(value, str):
        return value[:MAX_TEXT]
    try:
        return json.dumps(value, default=str)[:MAX_TEXT]
    except (TypeError, ValueError, RecursionError):
        return str(value)[:MAX_TEXT]


def termsOf(job) -> tuple:
    """The terms a job is found by: its tags, then its words."""
    words = {}
    for value in (job.input, job.output, job.error):
        for word in _WORD.findall(_text(value).lower()):
            if len(words) < MAX_WORDS:
                words[word[:MAX_WORD]] = None
    return tuple('#' + tag for tag in job.tags) + tuple(words)


def matches(job, tag: Optional[str], words: tuple) -> bool:
    """Whether a job matches a query, from its own state (for jobs the
    index has not taken in yet)."""
    terms = termsOf(job)
    if tag is not None and '#' + tag not in terms:
        return False
    return all(any(term.startswith(word) for term in terms
                   if term[:1] != '#') for word in words)


class Ids(IITreeSet):
    """The ids of the jobs of a term.  Ids come in ascending order, which
    leaves buckets half full; inner nodes kept small keep the node over
    the newest bucket, written as buckets split, small at any size."""

    max_internal_size = 16


class TermsById(IOBTree):
    """Job id -> its terms; small inner nodes, as `Ids`."""

    max_internal_size = 16


class Terms(OOBTree):
    """Term -> `Ids`; new words go anywhere: small inner nodes, as `Ids`."""

    max_internal_size = 16


class Notes(Versioned):
    """What the index is yet to take in: the jobs drains filed since (to
    index as they are then) and the ids of jobs removed since (to take
    out).  Drains and removers append, the indexer takes the first part
    (`take`); their changes merge, and only two takes at once conflict
    (on `takes`), as two drains do on the intake."""

    jobs = ()
    removed = ()
    #: How many takes there have been: two at once conflict.
    takes = 0

    def _p_resolveConflict(self, old, committed, new):
        takes = old.get('takes', 0)
        if committed.get('takes', 0) != takes and \
                new.get('takes', 0) != takes:
            raise ConflictError('two takes of the index notes at once')
        merged = dict(new, takes=max(committed.get('takes', 0),
                                     new.get('takes', 0)))
        for name in ('jobs', 'removed'):
            merged[name] = mergeMoved(old.get(name, ()),
                                      committed.get(name, ()),
                                      new.get(name, ()))
        for name in ('takes', 'jobs', 'removed'):
            if not merged[name]:
                del merged[name]
        return merged

    def note(self, jobs: tuple = (), removed: tuple = ()) -> None:
        if jobs:
            self.jobs += tuple(jobs)
        if removed:
            self.removed += tuple(removed)

    def take(self, most: int) -> tuple:
        """(jobs, removed ids): the first `most` of each, taken out."""
        jobs, removed = self.jobs[:most], self.removed[:most]
        if jobs:
            self.jobs = self.jobs[most:]
        if removed:
            self.removed = self.removed[most:]
        self.takes += 1
        return jobs, removed

    def __len__(self) -> int:
        return len(self.jobs) + len(self.removed)


class SearchIndex(Versioned):
    """Terms -> job ids (see the module); written by the indexer alone
    (`indexing`), from its `notes`."""

    def __init__(self) -> None:
        self.terms = Terms()
        #: job id -> the terms it is indexed by.
        self.ofJob = TermsById()
        self.notes = Notes()

    def index(self, job) -> None:
        """Index `job` by its terms now, and by no others."""
        jobid, new = job.id, termsOf(job)
        old = self.ofJob.get(jobid, ())
        if new == old:
            return
        self._drop(jobid, set(old) - set(new))
        for term in set(new) - set(old):
            self._add(term, jobid)
        if new:
            self.ofJob[jobid] = new
        else:
            self.ofJob.pop(jobid, None)

    def unindex(self, jobid: int) -> None:
        self._drop(jobid, self.ofJob.pop(jobid, ()))

    def _add(self, term: str, jobid: int) -> None:
        """A term of one job holds its id, not a set of one: most words of
        inputs (ids, names, numbers) are one job's, and a set would be a
        record more for each (as a catalog's `UnIndex` keeps them)."""
        ids = self.terms.get(term)
        if ids is None:
            self.terms[term] = jobid
        elif isinstance(ids, int):
            if ids != jobid:
                self.terms[term] = Ids((ids, jobid))
        else:
            ids.insert(jobid)

    def _drop(self, jobid, terms) -> None:
        for term in terms:
            ids = self.terms.get(term)
            if isinstance(ids, int):
                if ids == jobid:
                    del self.terms[term]
            elif ids is not None:
                if jobid in ids:
                    ids.remove(jobid)
                if not ids:
                    del self.terms[term]

    def idsOf(self, term: str):
        """The ids of the jobs of `term`, a set (empty for none)."""
        return _asSet(self.terms.get(term))

    def find(self, tag: Optional[str] = None, words: tuple = ()) -> tuple:
        """(ids, also): the ids of the jobs with a word beginning with each
        of `words` (ascending), else those of the jobs with `tag`; and the
        sets an id must be in too (the tag's, when words lead).  A tag's
        set is never read whole: a page reads as many ids as it shows."""
        tagged = None
        if tag is not None:
            tagged = self.idsOf('#' + tag)
            if not tagged:
                return IISet(), ()
        found = [multiunion(self._prefixed(word)) for word in words]
        if not found:
            return tagged, ()
        found.sort(key=len)
        result = found[0]
        for ids in found[1:]:
            if not result:
                break
            result = intersection(result, ids)
        return result, () if tagged is None else (tagged,)

    def _prefixed(self, word: str) -> list:
        """The sets of ids of the words `word` begins."""
        sets = []
        for ids in self.terms.values(min=word, max=word + _LAST):
            if len(sets) == MAX_PREFIX_TERMS:
                raise InvalidArgumentError(
                    f'{word!r} begins more than {MAX_PREFIX_TERMS} words '
                    f'of jobs: search for more of it')
            sets.append(_asSet(ids))
        return sets


def _asSet(ids):
    """A term's ids as a set: a lone id (see `SearchIndex._add`) in one."""
    if ids is None:
        return IISet()
    return IISet((ids,)) if isinstance(ids, int) else ids


def _descending(ids, below: Optional[int] = None):
    """The ids of a set (or tree set) from the highest down, below
    `below` if given: a key look-up each, not the set read whole."""
    bound = None if below is None else below - 1
    while bound is None or bound >= 0:
        try:
            jobid = ids.maxKey() if bound is None else ids.maxKey(bound)
        except ValueError:       # none (left)
            return
        yield jobid
        bound = jobid - 1


class Found:
    """The jobs matching a query: the ids the index has, and the jobs of
    the intake (not indexed as they are now yet) that match now."""

    def __init__(self, store, tag: Optional[str], words: tuple) -> None:
        self.store, self.tag, self.words = store, tag, words
        index = _index(store)
        self.ids, self.also = (IISet(), ()) if index is None else \
            index.find(tag, words)
        # The newest jobs noted for the index and moves of the intake (a
        # flood in one commit is drained and indexed in parts; older ones
        # are found once indexed).
        noted = () if index is None else index.notes.jobs[-FRESH_MOST:]
        self.fresh = {job.id: job for job in
                      noted + store.intake.jobs[-FRESH_MOST:]
                      if job.status != REMOVED}
        self.freshIds = sorted((jobid for jobid, job in self.fresh.items()
                                if matches(job, tag, words)), reverse=True)

    def has(self, job) -> bool:
        jobid = job.id
        if jobid in self.fresh:
            return matches(job, self.tag, self.words)
        return jobid in self.ids and all(jobid in ids for ids in self.also)

    def newestFirst(self, below: Optional[int] = None):
        """The matching jobs, highest id first; with `below`, those of
        lower ids."""
        fresh = [jobid for jobid in self.freshIds
                 if below is None or jobid < below]
        last = None
        for jobid in heapq.merge(_descending(self.ids, below), fresh,
                                 reverse=True):
            if jobid == last:
                continue
            last = jobid
            job = self.fresh.get(jobid)
            if job is not None:
                if matches(job, self.tag, self.words):
                    yield job
            elif all(jobid in ids for ids in self.also):
                # (checked before the job is loaded: most ids fail here)
                job = self.store.get(jobid)
                if job is not None:
                    yield job


def query(store, tag=None, search=None) -> Optional[Found]:
    """The jobs with `tag` and the words of `search`, or None for a query
    of neither.  A tag no job can have (see `checkTags`) finds none."""
    if tag is not None and not isinstance(tag, str):
        raise InvalidArgumentError(f'tag must be a string, not {tag!r}')
    words = () if search is None else queryWords(search)
    if tag is None and not words:
        return None
    return Found(store, tag, words)


def _index(store) -> Optional[SearchIndex]:
    """The store's index, or None for a store made before there was one
    (until its next drain)."""
    store._p_activate()          # (its __dict__ is empty while a ghost)
    return store.__dict__.get('search')
