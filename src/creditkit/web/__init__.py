"""The web pages ``creditkit serve`` serves beside the API: the customer's usage dashboard,
billing and credit marketplace (opened through a session link), and the operator's console
(signed in with an admin key). Server-rendered HTML, charts drawn as SVG, little JavaScript.
See docs/web.md."""
