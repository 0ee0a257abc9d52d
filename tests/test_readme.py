"""The README's research-code snippets run as written (in order, one namespace), so they cannot rot."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def research_code_snippets() -> list[str]:
  with open(os.path.join(ROOT, 'README.md')) as f:
    readme = f.read()
  section = readme.split('## Research code', 1)[1].split('\n## ', 1)[0]
  return re.findall(r'```python\n(.*?)```', section, re.S)


def test_research_code_snippets_run():
  snippets = research_code_snippets()
  assert len(snippets) >= 4
  namespace = {}
  for snippet in snippets:
    exec(compile(snippet, 'README.md', 'exec'), namespace)  # noqa: S102 - the README is the project's own.
  assert int(namespace['state'].step) == 1  # The last snippet's config-built state took one train step.
  assert set(namespace['unrolled']) == {'d_a', 'd_b'}
