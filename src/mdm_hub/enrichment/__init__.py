"""The NTA registry applied to customers: links by 法人番号, the registry as the source ``nta``
(through the write path), and what a 差分 file's changes do to linked customers."""
