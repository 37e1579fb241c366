"""Browser tests: JupyterLab driven in headless Chromium (a package, so its conftest is not `conftest`)."""
