"""The example application: cashiers and invoices of a small point-of-sale domain.

Its integration events are published on ``{env}.appdomain.public.cashiers.v1`` and
``{env}.appdomain.public.invoices.v1``: the domain ``appdomain`` comes from this top-level
package's name (``app_domain`` without the underscore).
"""
