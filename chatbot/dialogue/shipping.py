"""Where an order is, said whole: the carrier, a link to its tracking page, the
expected or actual delivery date; never a bare status."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from chatbot.models import Order

# Carrier (as orders name it, lowercased, without spaces) → tracking page for one
# tracking number. A carrier not listed gets no link; its name and the number are
# still said.
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "royalmail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "parcelforce": "https://www.parcelforce.com/track-trace?trackNumber={number}",
    "dpd": "https://track.dpd.co.uk/parcels/{number}",
    "evri": "https://www.evri.com/track/parcel/{number}",
    "hermes": "https://www.evri.com/track/parcel/{number}",
    "gls": "https://gls-group.com/track/{number}",
    "canadapost": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}",
    "australiapost": "https://auspost.com.au/mypost/track/details/{number}",
    "postnl": "https://jouw.postnl.nl/track-and-trace/{number}",
    "deutschepost": "https://www.deutschepost.de/de/s/sendungsverfolgung.html?piececode={number}",
    "laposte": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "ontrac": "https://www.ontrac.com/tracking/?number={number}",
    "amazonlogistics": "https://track.amazon.com/tracking/{number}",
}


def carrier_key(carrier: str) -> str:
    """``"Royal Mail"`` → ``"royalmail"``."""
    return "".join(ch for ch in carrier.lower() if ch.isalnum())


def tracking_url(carrier: str, number: str) -> str | None:
    """The carrier's tracking page for ``number``, or None for an unknown carrier."""
    template = TRACKING_URLS.get(carrier_key(carrier))
    if template is None or not number.strip():
        return None
    return template.format(number=quote(number.strip(), safe=""))


def day(value: date | datetime | None) -> str:
    """``"Thursday, June 18"``."""
    return value.strftime("%A, %B %-d") if value else ""


def details(order: Order) -> str:
    """Everything the order holds about where it is, as one or two sentences."""
    status = order.status
    carrier = order.carrier
    number = order.tracking_number
    url = tracking_url(carrier, number) if carrier else None
    tracking = ""
    if number:
        tracking = f"tracking number {number}" + (f": {url}" if url else "")
    if status == "shipped":
        parts = [f"It's on its way with {carrier}" if carrier else "It's on its way"]
        if tracking:
            parts.append(f", {tracking}")
        parts.append(".")
        if order.eta:
            parts.append(f" Expected delivery: {day(order.eta)}.")
        else:
            parts.append(" The carrier will show the delivery date once it's scanned.")
        return "".join(parts)
    if status == "delivered":
        when = f" on {day(order.delivered_at)}" if order.delivered_at else ""
        by = f" by {carrier}" if carrier else ""
        return f"It was delivered{when}{by}" + (f" ({tracking})." if tracking else ".")
    if status in ("placed", "processing"):
        eta = f" Expected delivery: {day(order.eta)}." if order.eta else ""
        return (
            "It hasn't shipped yet; we'll email you the tracking number as soon as "
            f"it leaves our warehouse.{eta}"
        )
    if status == "cancelled":
        return "It was cancelled, so nothing will be shipped or charged."
    if status == "returned":
        refund = order.get_refund_status_display().lower()
        return f"It was returned to us. Refund: {refund}."
    return ""


def links(order: Order) -> dict[str, Any] | None:
    """The reply payload with a link to the parcel's tracking page, if it has one."""
    url = tracking_url(order.carrier, order.tracking_number) if order.carrier else None
    if url is None:
        return None
    return {"links": [{"title": f"Track your parcel with {order.carrier}", "url": url}]}
