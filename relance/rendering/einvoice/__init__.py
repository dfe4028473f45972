"""E-invoices inside the invoice PDF (Factur-X / ZUGFeRD, XRechnung): the CII XML built
from DocumentFacts (`cii`), validated offline (`validate`), embedded (`embed`)."""
