# Relance worker / API image. Debian, so WeasyPrint gets Pango, HarfBuzz's subsetter
# (4-5x faster PDFs), DejaVu fonts (the narrow no-break spaces of French amounts) and
# Noto (Arabic, Hebrew, Devanagari, Thai, CJK: templates/pdf/pdf.css picks per script;
# WeasyPrint embeds only the glyphs a document uses).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
      fonts-dejavu-core fonts-noto-core fonts-noto-cjk shared-mime-info \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 relance
WORKDIR /app
COPY pyproject.toml README.md ./
COPY relance ./relance
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY templates ./templates
# Editable: the templates/ folder stays beside the code that finds it by path.
# Bytecode compiled now, as root: the relance user cannot write __pycache__ under /app,
# and without it every process start compiles every module, and every workflow the
# sandbox instantiates compiles its workflows/ module again (py-spy: ~4 % of the
# worker's Python time in bench/throughput.py).
RUN pip install --no-cache-dir -e . \
 && python -m compileall -q relance workflows activities worker \
 && python -c "import weasyprint, relance.cli"

USER relance
ENV RELANCE_STATE_DIR=/home/relance/.relance
ENTRYPOINT ["relance"]
CMD ["worker"]
