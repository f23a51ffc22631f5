"""The workspace: web pages for sales and managers under /app (server-rendered with Jinja2, a little
JavaScript, every asset in the package), reading the book."""
