"""The sizes and times a custom template may reach."""

# Relance's own invoice email is ~19 KB of template, layout and macros included; 100 KB
# leaves room for a designer's table layout and keeps a stored version small.
MAX_SOURCE_BYTES = 100 * 1024
# Per part, as rendered. Gmail clips HTML past 102 KB anyway; this only stops abuse.
MAX_OUTPUT_CHARS = 512 * 1024
# The largest single value (string, list...) a template may build or print.
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS
# Everything one part builds along the way (buffers, joins, filter results...). Bounds
# what a render can allocate in total, whatever it discards.
MAX_WORK_CHARS = 8 * 1024 * 1024
# Widths and precisions in printf formats: "%999999999d" is a 1 GB string.
MAX_FORMAT_WIDTH = 1000
# Integers a template computes: money needs a few dozen bits; 10 ** 10**9 needs a
# billion-digit number. 4096 bits is ~1,230 digits.
MAX_INT_BITS = 4096
# range() and the loops it drives. An email has no business counting past this.
MAX_RANGE = 10_000
# The whole render (all parts, CSS inlining, text derivation), wall clock.
RENDER_SECONDS = 2.0
# How long to wait for the worker thread to unwind once it has been told to stop.
STOP_GRACE_SECONDS = 1.0
# css-inline's work, estimated from the HTML before it runs (see css_cost): at these
# bounds the worst inputs measured took ~0.2 s and produced ~4 MB.
MAX_CSS_CHAR_ELEMENTS = 8_000_000
MAX_CSS_DECL_ELEMENTS = 400_000
MAX_CSS_DECLARATIONS = 2_000
# css-inline 0.24 overflows its stack (SIGSEGV: the whole worker dies) on documents
# nested ~11,000 elements deep with an 8 MB stack, which 60 KB of unclosed <div> reach.
# Nesting stayed under 1.25x the number of tags in every trick tried (implied tbody and
# tr, re-opened formatting elements, misnesting); 2,500 tags leaves a wide margin. A
# billing email has a few hundred.
MAX_INLINE_ELEMENTS = 2_500
# An inlined HTML part past this is sent without inlining (validation refuses it).
MAX_INLINED_CHARS = 1024 * 1024
