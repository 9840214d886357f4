"""Defaults a newcomer sees on real exports: the guessed funnel and the stage guesses."""

from __future__ import annotations

from journeys.analyses.journey_map import default_funnel, infer_stages

GA4 = ["add_payment_info", "add_shipping_info", "add_to_cart", "begin_checkout", "click", "first_visit", "page_view",
       "purchase", "scroll", "select_item", "select_promotion", "session_start", "user_engagement", "view_item",
       "view_item_list", "view_promotion", "view_search_results"]
HELPDESK = ["Assign seriousness", "Closed", "Create SW anomaly", "DUPLICATE", "INVALID", "Insert ticket",
            "RESOLVED", "Require upgrade", "Resolve SW anomaly", "Resolve ticket", "Schedule intervention",
            "Take in charge ticket", "VERIFIED", "Wait"]


def test_ga4_funnel_walks_view_cart_checkout_purchase():
    assert default_funnel(GA4, "purchase") == (("view_item",), ("add_to_cart",), ("begin_checkout",), ("purchase",))
    assert default_funnel(GA4, None) == (("view_item",), ("add_to_cart",), ("begin_checkout",))
    # a goal earlier in the funnel ends it there: the later rungs come after it
    assert default_funnel(GA4, "add_to_cart") == (("view_item",), ("add_to_cart",))
    assert default_funnel(GA4, "begin_checkout") == (("view_item",), ("add_to_cart",), ("begin_checkout",))


def test_shop_funnel_and_no_guess_without_shop_words():
    shop = ["home", "product_view", "add_to_cart", "checkout", "purchase", "remove_from_cart", "view_cart"]
    assert default_funnel(shop, "purchase") == (("product_view",), ("add_to_cart",), ("checkout",), ("purchase",))
    assert default_funnel(HELPDESK, None) == ()


def test_a_closed_ticket_is_not_churn_but_a_closed_account_is():
    stages = dict(infer_stages([*HELPDESK, "account_closed", "unsubscribe"]))
    assert stages["Closed"] == "retention" and stages["Resolve ticket"] == "retention"
    assert stages["account_closed"] == "churn" and stages["unsubscribe"] == "churn"
