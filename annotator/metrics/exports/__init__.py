"""Label exports: which masks leave (selection), how they are written (formats), the job
(service). See docs/exports.md."""
