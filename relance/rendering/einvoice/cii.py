"""DocumentFacts -> a UN/CEFACT Cross Industry Invoice (CII D16B), the XML of Factur-X /
ZUGFeRD and of XRechnung's CII syntax, for one profile.

Built only from DocumentFacts, the model the page is rendered from, so the two cannot
disagree. Amounts go from minor units to decimals exactly (Decimal, the currency's own
digits: JPY has none). The totals are the facts' own (total, total excluding tax, tax
per rate), never recomputed here: facts that do not add up make a document the
schematron refuses (BR-CO-*), which is the point of checking it.

Stripe's discounts are spread over the lines' tax rates; EN 16931 wants them per VAT
category, so each rate's document-level allowance is its lines' net amount minus the
taxable amount Stripe reports for that rate (exact, and zero without discounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from lxml import etree

from relance.contracts.documents import DocumentFacts, DocumentLine, Party, PostalAddress, TaxAmount
from relance.contracts.einvoice import EInvoiceProfile
from relance.rendering.einvoice.profiles import Profile, profile
from relance.rendering.formatting import minor_to_decimal

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

INVOICE, CREDIT_NOTE = "380", "381"
# Stripe's tax id types -> where EN 16931 puts them. VAT-like registrations are BT-31 /
# BT-48 (schemeID VA); a German Steuernummer is the seller's tax registration (FC); a
# SIREN is the legal registration (BT-30, ISO 6523 scheme 0002), a SIRET an identifier
# (BT-29, scheme 0009). Other types have no place in the XML and stay on the page.
_VAT_SUFFIXES = ("_vat", "_gst", "_gst_hst", "_hst", "_uid", "_trn")
_LEGAL_SCHEMES = {"fr_siren": "0002"}
_GLOBAL_SCHEMES = {"fr_siret": "0009"}

# Stripe's taxability reasons -> VAT category (UNTDID 5305) and exemption reason.
_EXEMPT = {"product_exempt", "product_exempt_holiday", "customer_exempt", "portion_product_exempt"}
_NOT_SUBJECT = {
    "not_collecting",
    "not_subject_to_tax",
    "not_supported",
    "excluded_territory",
    "jurisdiction_unsupported",
}
_REASONS = {
    "AE": ("Reverse charge", "VATEX-EU-AE"),
    "E": ("Exempt from VAT", None),
    "O": ("Not subject to VAT", "VATEX-EU-O"),
}
_CENT = Decimal("0.01")


# The French Factur-X guidance's subject codes (UNTDID 4451) for the legal mentions:
# recovery indemnity, late-payment penalties, and the others (VAT franchise).
NOTE_SUBJECTS = {"fr_recovery_indemnity": "PMT", "fr_late_payment": "PMD", "fr_vat_franchise": "AAB"}


@dataclass(frozen=True)
class DocumentTexts:
    """What the page says in words, in the document's language, for the XML to say the
    same: each legal mention's text by its code, and the payment terms (BT-20)."""

    mentions: dict[str, str]
    payment_terms: str | None = None


@dataclass(frozen=True, order=True)
class VatKey:
    category: str
    percent: Decimal


def _q(tag: str) -> str:
    prefix, name = tag.split(":")
    return f"{{{NSMAP[prefix]}}}{name}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _q(tag), attrs)
    if text is not None:
        el.text = text
    return el


class _Money:
    def __init__(self, currency: str) -> None:
        self.currency = currency.upper()

    def decimal(self, minor: int | Decimal) -> Decimal:
        if isinstance(minor, Decimal):
            return minor_to_decimal(1, self.currency) * minor
        return minor_to_decimal(minor, self.currency)

    def text(self, minor: int) -> str:
        return _plain(self.decimal(minor))


def _plain(value: Decimal) -> str:
    return f"{value:f}"


def _percent(value: Decimal) -> str:
    return _plain(value.quantize(_CENT))


# ---- dates ------------------------------------------------------------------------


def _day(value: datetime, tz: str) -> str:
    """The calendar day the page shows (the document's time zone), as format 102."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")


def _date(parent: etree._Element, tag: str, value: datetime, tz: str, qualified: bool = False) -> None:
    holder = _sub(parent, tag)
    _sub(holder, "qdt:DateTimeString" if qualified else "udt:DateTimeString", _day(value, tz), format="102")


# ---- VAT categories ---------------------------------------------------------------


def vat_key(tax: TaxAmount | None, facts: DocumentFacts) -> VatKey:
    reason = tax.taxability_reason if tax else None
    if facts.tax_exempt == "reverse" or reason == "reverse_charge":
        return VatKey("AE", Decimal(0))
    if tax is None:
        return VatKey("E" if facts.tax_exempt == "exempt" else "O", Decimal(0))
    if reason in _EXEMPT or facts.tax_exempt == "exempt":
        return VatKey("E", Decimal(0))
    if reason in _NOT_SUBJECT:
        return VatKey("O", Decimal(0))
    percent = tax.rate.percentage
    if percent is None:
        percent = Decimal(tax.amount) * 100 / Decimal(tax.taxable_amount) if tax.taxable_amount else Decimal(0)
    percent = percent.quantize(_CENT)
    if reason == "zero_rated" or percent == 0:
        return VatKey("Z", Decimal(0))
    return VatKey("S", percent)


def _tax_fields(parent: etree._Element, key: VatKey) -> None:
    _sub(parent, "ram:TypeCode", "VAT")
    _sub(parent, "ram:CategoryCode", key.category)
    if key.category != "O":  # BR-O-05: no rate for "not subject to VAT"
        _sub(parent, "ram:RateApplicablePercent", _percent(key.percent))


# ---- parties ----------------------------------------------------------------------


def _is_vat(tax_type: str) -> bool:
    return tax_type.endswith(_VAT_SUFFIXES) or tax_type in ("eu_oss_vat",)


def _address(parent: etree._Element, address: PostalAddress | None, country: str | None) -> None:
    country = (address.country if address and address.country else country) or None
    if country is None:
        return  # BR-08 / BR-10 name what is missing
    el = _sub(parent, "ram:PostalTradeAddress")
    a = address or PostalAddress()
    if a.postal_code:
        _sub(el, "ram:PostcodeCode", a.postal_code)
    if a.line1:
        _sub(el, "ram:LineOne", a.line1)
    if a.line2:
        _sub(el, "ram:LineTwo", a.line2)
    if a.city:
        _sub(el, "ram:CityName", a.city)
    _sub(el, "ram:CountryID", country.upper())
    if a.state:
        _sub(el, "ram:CountrySubDivisionName", a.state)


def _party(parent: etree._Element, tag: str, party: Party, p: Profile, *, seller: bool) -> None:
    el = _sub(parent, tag)
    for tid in party.tax_ids:
        if tid.type in _GLOBAL_SCHEMES:
            _sub(el, "ram:GlobalID", tid.value, schemeID=_GLOBAL_SCHEMES[tid.type])
    _sub(el, "ram:Name", party.name or "")
    if seller and p.rich and party.registration:
        _sub(el, "ram:Description", "; ".join(party.registration))  # BT-33
    legal = next((t for t in party.tax_ids if t.type in _LEGAL_SCHEMES), None)
    if legal is not None:
        org = _sub(el, "ram:SpecifiedLegalOrganization")
        _sub(org, "ram:ID", legal.value, schemeID=_LEGAL_SCHEMES[legal.type])
    if seller and p.rich and (party.email or party.phone or party.contact_name):
        contact = _sub(el, "ram:DefinedTradeContact")  # BG-6
        if party.contact_name:
            _sub(contact, "ram:PersonName", party.contact_name)
        if party.phone:
            _sub(_sub(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
        if party.email:
            _sub(_sub(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    _address(el, party.address, party.country)
    if party.email:
        _sub(_sub(el, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    vat = next((t for t in party.tax_ids if _is_vat(t.type)), None)
    if vat is not None:
        _sub(_sub(el, "ram:SpecifiedTaxRegistration"), "ram:ID", vat.value, schemeID="VA")
    fiscal = next((t for t in party.tax_ids if t.type == "de_stn"), None)
    if seller and fiscal is not None:
        _sub(_sub(el, "ram:SpecifiedTaxRegistration"), "ram:ID", fiscal.value, schemeID="FC")


# ---- lines ------------------------------------------------------------------------


def line_net(line: DocumentLine) -> int:
    """BT-131 in minor units: the line's amount excluding tax, before discounts."""
    if line.amount_excluding_tax is not None:
        return line.amount_excluding_tax
    return line.amount - sum(t.amount for t in line.taxes if t.inclusive)


def _line(parent: etree._Element, i: int, line: DocumentLine, facts: DocumentFacts, money: _Money, tz: str) -> None:
    net = line_net(line)
    quantity = line.quantity if line.quantity is not None else Decimal(1)
    price = (
        money.decimal(line.unit_amount_excluding_tax)
        if line.unit_amount_excluding_tax is not None
        else (money.decimal(net) / quantity if quantity else money.decimal(net))
    )
    if price < 0:  # BR-27: a price is never negative; a credit line is a negative quantity
        price, quantity = -price, -quantity
    item = _sub(parent, "ram:IncludedSupplyChainTradeLineItem")
    _sub(_sub(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(i))
    _sub(_sub(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description or "-")
    agreement = _sub(item, "ram:SpecifiedLineTradeAgreement")
    _sub(
        _sub(agreement, "ram:NetPriceProductTradePrice"),
        "ram:ChargeAmount",
        _plain(price.normalize() if price else price),
    )
    _sub(_sub(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", _plain(quantity), unitCode="C62")
    settlement = _sub(item, "ram:SpecifiedLineTradeSettlement")
    _tax_fields(_sub(settlement, "ram:ApplicableTradeTax"), vat_key(line.taxes[0] if line.taxes else None, facts))
    if line.period_start or line.period_end:
        period = _sub(settlement, "ram:BillingSpecifiedPeriod")
        if line.period_start:
            _date(period, "ram:StartDateTime", line.period_start, tz)
        if line.period_end:
            _date(period, "ram:EndDateTime", line.period_end, tz)
    _sub(_sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount", money.text(net))


# ---- the VAT breakdown and allowances ---------------------------------------------


@dataclass
class _Breakdown:
    basis: int = 0
    tax: int = 0
    lines: int = 0  # the lines' net amounts in this category


def breakdown(facts: DocumentFacts) -> dict[VatKey, _Breakdown]:
    """Per VAT category and rate: the taxable amount and tax the facts report, and the
    lines' net amounts (their difference is that category's share of the discounts)."""
    out: dict[VatKey, _Breakdown] = {}
    for tax in facts.totals.taxes:
        b = out.setdefault(vat_key(tax, facts), _Breakdown())
        b.basis += tax.taxable_amount
        b.tax += tax.amount
    reported = set(out)
    for line in facts.lines:
        key = vat_key(line.taxes[0] if line.taxes else None, facts)
        b = out.setdefault(key, _Breakdown())
        b.lines += line_net(line)
        if key not in reported:
            b.basis += line_net(line)  # untaxed lines: nothing reported, their net is the basis
    return dict(sorted(out.items()))


def _header_tax(parent: etree._Element, key: VatKey, b: _Breakdown, money: _Money) -> None:
    el = _sub(parent, "ram:ApplicableTradeTax")
    _sub(el, "ram:CalculatedAmount", money.text(b.tax))
    _sub(el, "ram:TypeCode", "VAT")
    reason = _REASONS.get(key.category)
    if reason:
        _sub(el, "ram:ExemptionReason", reason[0])
    _sub(el, "ram:BasisAmount", money.text(b.basis))
    _sub(el, "ram:CategoryCode", key.category)
    if reason and reason[1]:
        _sub(el, "ram:ExemptionReasonCode", reason[1])
    if key.category != "O":
        _sub(el, "ram:RateApplicablePercent", _percent(key.percent))


def _allowance(parent: etree._Element, key: VatKey, amount: int, reason: str, money: _Money) -> None:
    el = _sub(parent, "ram:SpecifiedTradeAllowanceCharge")
    _sub(_sub(el, "ram:ChargeIndicator"), "udt:Indicator", "false")
    _sub(el, "ram:ActualAmount", money.text(amount))
    _sub(el, "ram:Reason", reason)
    _tax_fields(_sub(el, "ram:CategoryTradeTax"), key)


def _payment_means(parent: etree._Element, facts: DocumentFacts, p: Profile) -> None:
    """BG-16: the means and, for a credit transfer, the seller's account (BG-17); for a
    card, its last digits (BG-18)."""
    means = facts.payment_means
    if means is None:
        return
    el = _sub(parent, "ram:SpecifiedTradeSettlementPaymentMeans")
    _sub(el, "ram:TypeCode", means.code)
    if p.rich and means.code == "ZZZ" and means.method_type:
        _sub(el, "ram:Information", means.method_type.replace("_", " "))  # BT-82
    if p.rich and means.card_last4:
        _sub(_sub(el, "ram:ApplicableTradeSettlementFinancialCard"), "ram:ID", means.card_last4)
    if means.iban:
        account = _sub(el, "ram:PayeePartyCreditorFinancialAccount")
        _sub(account, "ram:IBANID", means.iban)
        if p.rich and means.account_name:
            _sub(account, "ram:AccountName", means.account_name)
        if p.rich and means.bic:
            _sub(_sub(el, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", means.bic)


# ---- the document -----------------------------------------------------------------


def build_cii(
    facts: DocumentFacts, profile_name: EInvoiceProfile, tz: str = "UTC", texts: DocumentTexts | None = None
) -> bytes:
    """The CII XML of an invoice (380) or credit note (381) for `profile_name`; `texts`:
    the page's legal mentions and payment terms, which become notes and BT-20."""
    if facts.type == "receipt":
        raise ValueError("a receipt is not an invoice: it carries no e-invoice")
    p = profile(profile_name)
    money = _Money(facts.currency)
    root = etree.Element(_q("rsm:CrossIndustryInvoice"), nsmap=NSMAP)

    context = _sub(root, "rsm:ExchangedDocumentContext")
    if p.business_process:
        _sub(_sub(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", p.business_process)
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", p.guideline_id)

    doc = _sub(root, "rsm:ExchangedDocument")
    _sub(doc, "ram:ID", facts.number or facts.id)
    _sub(doc, "ram:TypeCode", CREDIT_NOTE if facts.type == "credit_note" else INVOICE)
    _date(doc, "ram:IssueDateTime", facts.issue_date or datetime.now(UTC), tz)
    for text in filter(None, [facts.memo, facts.reason if facts.type == "credit_note" else None]):
        _sub(_sub(doc, "ram:IncludedNote"), "ram:Content", text)
    for code in facts.legal_mentions:
        mention = texts.mentions.get(code) if texts else None
        if mention and code in NOTE_SUBJECTS:
            note = _sub(doc, "ram:IncludedNote")
            _sub(note, "ram:Content", mention)
            _sub(note, "ram:SubjectCode", NOTE_SUBJECTS[code])

    transaction = _sub(root, "rsm:SupplyChainTradeTransaction")
    for i, line in enumerate(facts.lines, start=1):
        _line(transaction, i, line, facts, money, tz)

    agreement = _sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    if facts.buyer_reference:
        _sub(agreement, "ram:BuyerReference", facts.buyer_reference)  # BT-10
    _party(agreement, "ram:SellerTradeParty", facts.seller, p, seller=True)
    _party(agreement, "ram:BuyerTradeParty", facts.buyer, p, seller=False)

    delivery = _sub(transaction, "ram:ApplicableHeaderTradeDelivery")
    if facts.shipping is not None and facts.shipping.address is not None:
        ship_to = _sub(delivery, "ram:ShipToTradeParty")
        _sub(ship_to, "ram:Name", facts.shipping.name or facts.buyer.name or "")
        _address(ship_to, facts.shipping.address, None)
    start, end = facts.supply_start, facts.supply_end or facts.supply_start
    single_day = start is not None and end is not None and _day(start, tz) == _day(end, tz)
    if single_day and start is not None:
        _date(_sub(delivery, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", start, tz)

    settlement = _sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    if facts.type == "invoice":
        _sub(settlement, "ram:PaymentReference", facts.number or facts.id)
    _sub(settlement, "ram:InvoiceCurrencyCode", money.currency)
    _payment_means(settlement, facts, p)
    taxes = breakdown(facts)
    for key, b in taxes.items():
        _header_tax(settlement, key, b, money)
    if start is not None and end is not None and not single_day:
        period = _sub(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", start, tz)
        _date(period, "ram:EndDateTime", end, tz)
    discounted = bool(facts.totals.discounts) or any(line.discounts for line in facts.lines)
    allowances = {k: b.lines - b.basis for k, b in taxes.items() if discounted and b.lines > b.basis}
    reason = ", ".join(d.name for d in facts.totals.discounts if d.name) or "Discount"
    for key, amount in allowances.items():
        _allowance(settlement, key, amount, reason, money)
    payment_terms = texts.payment_terms if texts and facts.type == "invoice" else None
    if facts.type == "invoice" and (payment_terms or facts.due_date):
        terms = _sub(settlement, "ram:SpecifiedTradePaymentTerms")
        if payment_terms:
            _sub(terms, "ram:Description", payment_terms)  # BT-20
        if facts.due_date:
            _date(terms, "ram:DueDateDateTime", facts.due_date, tz)

    t = facts.totals
    total_excl = t.total_excluding_tax if t.total_excluding_tax is not None else sum(b.basis for b in taxes.values())
    summary = _sub(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summary, "ram:LineTotalAmount", money.text(sum(line_net(line) for line in facts.lines)))
    if allowances:
        _sub(summary, "ram:AllowanceTotalAmount", money.text(sum(allowances.values())))
    _sub(summary, "ram:TaxBasisTotalAmount", money.text(total_excl))
    _sub(summary, "ram:TaxTotalAmount", money.text(sum(b.tax for b in taxes.values())), currencyID=money.currency)
    _sub(summary, "ram:GrandTotalAmount", money.text(t.total))
    # A credit note is settled when issued (credited to the invoice or the balance, or
    # refunded); an invoice owes what remains.
    remaining = 0 if facts.type == "credit_note" else t.amount_remaining
    if t.total != remaining:
        _sub(summary, "ram:TotalPrepaidAmount", money.text(t.total - remaining))
    _sub(summary, "ram:DuePayableAmount", money.text(remaining))
    if facts.corrects is not None:
        ref = _sub(settlement, "ram:InvoiceReferencedDocument")
        _sub(ref, "ram:IssuerAssignedID", facts.corrects.number or facts.corrects.id)
        if facts.corrects.issue_date:
            _date(ref, "ram:FormattedIssueDateTime", facts.corrects.issue_date, tz, qualified=True)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
