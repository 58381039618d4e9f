"""The NTA 法人番号 and インボイス reference data (the registry) and what links to it."""
