"""Playbooks: what to do about an alert, as YAML files in ``playbooks/``.

A playbook says when it applies (``match``: signals, service and endpoint globs, labels and
conditions on evidence such as ``cpu > 0.85``), which PromQL to run for evidence
(``diagnostics``, templates with placeholders like ``{service}``), what to do (``steps``, in
markdown) and where to read more (``links``, URL templates).

Everything an author can get wrong is found when the file is loaded, with its file and line:
YAML syntax, unknown fields, a bad glob or regex, a condition on unknown evidence, an unknown
placeholder or one that would paste a value unescaped into PromQL. ``load_playbooks`` returns
the good playbooks and the list of problems, so one broken file never hides the others.

Where each part lives (import from the module; this package re-exports nothing):

- ``evidence``: the evidence conditions may test (``EVIDENCE``, ``EvidenceKind``,
  ``EvidenceValue``, ``CHANGES``, ``AFTER_DEPLOY_WINDOW``), ``check_evidence``,
  ``format_evidence``.
- ``conditions``: ``Pattern``/``parse_pattern`` (globs, ``re:`` regexes) and
  ``Condition``/``parse_condition`` (``cpu > 0.85``, ``not after_deploy``).
- ``templates``: placeholders (``PLACEHOLDERS``, ``Kind``), ``Template``, ``compile_promql``,
  ``compile_url``, ``compile_text``, ``TemplateError``, ``MissingValue``; escaping on render.
- ``schema``: the pydantic models ``Playbook``, ``Match``, ``Diagnostic``, ``Link``, ``Unit``.
- ``loading``: ``load_playbooks``, ``load_playbook_file``, ``parse_playbook``, ``Problem``,
  ``LoadResult``; YAML line numbers for every problem.
- ``matching``: ``Situation`` (what an alert knows), ``evaluate``, ``match_playbooks``,
  ``Evaluation``, ``PlaybookMatch``.
- ``rendering``: ``QueryNames``, ``render_diagnostics``, ``render_links``, ``render_steps``.
- ``diagnostics``: ``run_diagnostics``, ``DiagnosticResult``, ``format_unit``,
  ``InstantQuery``, and ``gather_evidence`` (evidence read from a metrics backend).

Dependencies run down this list: each module imports only from those above it.
"""
