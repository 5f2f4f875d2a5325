//! A deterministic generator of marketplace orders, in the Octopia JSON the API returns.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::rng::SplitMix64;

/// Product titles that exercise the documents: French accents and ligatures, German, Polish,
/// Greek, symbols, characters that need escaping in XML, and very long titles.
const TITLES: &[&str] = &[
    "Théière en fonte émaillée 1,2 L — rouge cœur",
    "Livre « Les Misérables » édition illustrée",
    "Chargeur USB-C 65 W GaN",
    "Pull col roulé laine mérinos — taille M",
    "Kaffeemühle „Großmutter“ aus Buchenholz, Ø 12 cm",
    "Zestaw garnków żeliwnych — Łódź, 5 częściowy",
    "Ελληνικό μέλι θυμαρίσιο 450 g",
    "Câble HDMI 2.1 8K @ 60 Hz, 2 m — « ultra » & <certifié>",
    "Savon d'Alep 25 % laurier \"authentique\"",
    "Lampe de chevet ≥ 400 lm ± 5 % — garantie 2 ans ✓",
    "Coffret de 6 bougies parfumées : vanille, fève tonka, bois de santal, figue, ambre et \
     fleur d'oranger — cire de soja naturelle, mèche en coton, durée de combustion 40 heures \
     chacune, fabriqué à Grasse (Alpes-Maritimes), emballage recyclable ♻",
    "Ensemble de 3 poêles antiadhésives Ø 20/24/28 cm, compatibles induction, sans PFOA",
    "Jeu de société « L'Île interdite » — 2 à 4 joueurs",
    "Brosse à dents électrique — tête de rechange ×4",
    "Æble-kage form, 24 cm — Smørrebrød ø",
];

/// Statuses that are not invoiceable, for the ineligible part of a mix.
const NOT_SHIPPED: &[&str] =
    &["Cancelled", "Refused", "WaitingAcceptance", "InPreparation", "Accepted", "Rejected", "Processing"];

const FIRST_NAMES: &[&str] = &["Élodie", "Jean-Luc", "Maëlle", "François", "Zoé", "Loïc", "Anaïs", "Benoît"];
const LAST_NAMES: &[&str] = &["Durand", "Lefèvre", "Müller", "N'Diaye", "O'Connor", "Dupont-Aignan", "Nowak"];
const STREETS: &[&str] =
    &["rue des Lilas", "avenue de la République", "boulevard Haussmann", "chemin des Écoliers", "place de l'Église"];
const CITIES: &[(&str, &str)] = &[
    ("69003", "Lyon"),
    ("75011", "Paris"),
    ("13001", "Marseille"),
    ("31000", "Toulouse"),
    ("59800", "Lille"),
    ("20000", "Ajaccio"),
];
const COMPANIES: &[&str] = &["Atelier Durand SARL", "Boulangerie « Au Bon Pain »", "Dupont & Fils", "SCI Les Érables"];
const RATES: &[&str] = &["20.0", "20.0", "20.0", "5.5", "10.0", "2.1"];

/// How many orders of each kind a generated batch holds.
#[derive(Debug, Clone, Copy)]
pub struct OrderMix {
    pub shipped: usize,
    /// Orders in a status that is not invoiceable (cancelled, waiting, …).
    pub not_shipped: usize,
    /// Shipped orders delivered outside France.
    pub abroad: usize,
}

/// Generates orders for one marketplace seller. The same seed gives the same orders.
#[derive(Debug, Clone)]
pub struct OrderGenerator {
    rng: SplitMix64,
    seller_id: String,
    counter: u64,
    /// Largest number of lines of one order (1 to 60).
    pub max_lines: u64,
}

fn money(cents: u64) -> Value {
    // Written as a JSON number with its exact decimal digits.
    serde_json::from_str(&Decimal::new(cents as i64, 2).to_string()).unwrap_or(Value::Null)
}

fn rfc3339(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::String).unwrap_or(Value::Null)
}

impl OrderGenerator {
    pub fn new(seed: u64, seller_id: &str) -> Self {
        let salt = seller_id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        // Fork rather than xor: nearby seeds and seller ids must not give the same stream.
        let rng = SplitMix64::new(seed).fork(salt);
        OrderGenerator { rng, seller_id: seller_id.to_owned(), counter: 0, max_lines: 60 }
    }

    fn order_id(&mut self, at: OffsetDateTime) -> String {
        self.counter += 1;
        let letters: String = (0..4).map(|_| char::from(b'A' + self.rng.range(0, 25) as u8)).collect();
        format!(
            "{:02}{:02}{:02}{:02}{:02}{letters}{:03}",
            at.year() % 100,
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            self.counter % 1000
        )
    }

    fn line_count(&mut self) -> u64 {
        let n = match self.rng.range(0, 99) {
            0..=59 => 1,
            60..=84 => self.rng.range(2, 3),
            85..=96 => self.rng.range(4, 12),
            _ => self.rng.range(13, 60),
        };
        n.min(self.max_lines.max(1))
    }

    fn address(&mut self, country: &str) -> Value {
        let (postal, city) = *self.rng.pick(CITIES);
        let number = self.rng.range(1, 180);
        json!({
            "civility": if self.rng.chance(50) { "MME" } else { "M" },
            "firstName": self.rng.pick(FIRST_NAMES), "lastName": self.rng.pick(LAST_NAMES),
            "addressLine1": format!("{number} {}", self.rng.pick(STREETS)),
            "postalCode": postal, "city": city, "countryCode": country,
        })
    }

    /// One order in `status`, placed at `placed_at`, last updated at `updated_at`.
    pub fn order(
        &mut self,
        status: &str,
        placed_at: OffsetDateTime,
        updated_at: OffsetDateTime,
        ship_to: &str,
    ) -> Value {
        let order_id = self.order_id(placed_at);
        let business = self.rng.chance(15);
        let mut billing = self.address("FR");
        if business {
            billing["companyName"] = (*self.rng.pick(COMPANIES)).into();
        }
        let relay = self.rng.chance(30);
        let mut shipping = if self.rng.chance(80) { billing.clone() } else { self.address(ship_to) };
        shipping["countryCode"] = ship_to.into();
        if let Some(obj) = shipping.as_object_mut() {
            obj.remove("companyName");
        }
        if relay {
            shipping["pickupName"] = "Relais Tabac de la Gare".into();
            shipping["pickupId"] = format!("R{}", self.rng.range(10_000, 99_999)).into();
        }
        shipping["email"] = format!("{}@relay.marketplace.example", self.rng.range(1_000_000, 9_999_999)).into();
        shipping["phone"] = "0600000000".into();

        let n_lines = self.line_count();
        let mut lines = Vec::with_capacity(n_lines as usize);
        let mut total: u64 = 0;
        let fulfilment = self.rng.chance(10);
        for i in 0..n_lines {
            let quantity = match self.rng.range(0, 99) {
                0..=79 => 1,
                80..=94 => self.rng.range(2, 5),
                _ => self.rng.range(6, 20),
            };
            let unit = match self.rng.range(0, 99) {
                0..=9 => self.rng.range(1, 500),
                10..=89 => self.rng.range(500, 15_000),
                _ => self.rng.range(15_000, 999_999),
            };
            let shipping_cost = if i == 0 && self.rng.chance(60) { self.rng.range(199, 1_499) } else { 0 };
            let line_total = unit * quantity + shipping_cost;
            total += line_total;
            let sku_n = self.rng.range(1, 40);
            let rate: &str = self.rng.pick::<&str>(RATES);
            let taxes = if self.rng.chance(85) {
                json!([{"code": "VAT", "target": "Product", "rate": serde_json::from_str::<Value>(rate).unwrap_or(Value::Null)}])
            } else {
                json!([])
            };
            lines.push(json!({
                "orderLineId": (i + 1).to_string(),
                "status": status,
                "quantity": quantity,
                "offer": {
                    "id": format!("OF{sku_n:05}"), "sellerProductId": format!("LIV-{sku_n:04}"),
                    "supplyMode": if fulfilment { "Fulfillment" } else { "Seller" },
                    "productId": format!("P{sku_n:06}"), "productTitle": self.rng.pick(TITLES),
                    "productGtin": format!("376{:010}", sku_n), "condition": "New"
                },
                "sellingPrice": {"unitSalesPrice": money(unit), "shippingCost": money(shipping_cost), "taxes": taxes},
                "offerPrice": {"unitSalesPrice": money(unit), "shippingCost": money(shipping_cost)},
                "totalPrice": {"offerPrice": money(line_total), "sellingPrice": money(line_total)},
                "delivery": {"mode": if relay { "RELAY" } else { "STD" }, "shippedAtMax": rfc3339(placed_at + Duration::days(3))},
                "shippingAddress": shipping.clone(),
                "parcels": if status == "Shipped" || status == "Delivered" {
                    json!([{"parcelNumber": format!("6A{}", self.rng.range(10_000_000, 99_999_999)), "carrierName": "Colissimo"}])
                } else { json!([]) },
            }));
        }
        json!({
            "orderId": order_id,
            "reference": order_id,
            "businessOrder": business,
            "salesChannel": {"id": "CDISFR", "name": "Cdiscount"},
            "seller": {"id": self.seller_id},
            "customer": {"reference": format!("CUST-{}", self.rng.range(100_000, 999_999))},
            "purchasedAt": rfc3339(placed_at),
            "createdAt": rfc3339(placed_at),
            "updatedAt": rfc3339(updated_at),
            "shippedAtMax": rfc3339(placed_at + Duration::days(3)),
            "status": status,
            "payment": {"method": "CB"},
            "currencyCode": "EUR",
            "billingAddress": billing,
            "totalPrice": {"offerPrice": money(total), "sellingPrice": money(total)},
            "lines": lines,
        })
    }

    /// A shipped order placed within the `hours` before `now`.
    pub fn shipped(&mut self, now: OffsetDateTime, hours: u64) -> Value {
        let placed = now - Duration::minutes(self.rng.range(60, hours.max(2) * 60) as i64);
        let updated = placed + (now - placed) / 2;
        let status = if self.rng.chance(85) { "Shipped" } else { "Delivered" };
        self.order(status, placed, updated, "FR")
    }

    /// A batch: shipped orders to France, orders not shipped, orders shipped abroad.
    pub fn batch(&mut self, mix: OrderMix, now: OffsetDateTime) -> Vec<Value> {
        let mut out = Vec::with_capacity(mix.shipped + mix.not_shipped + mix.abroad);
        for _ in 0..mix.shipped {
            out.push(self.shipped(now, 72));
        }
        for _ in 0..mix.not_shipped {
            let placed = now - Duration::hours(self.rng.range(1, 72) as i64);
            let status = *self.rng.pick(NOT_SHIPPED);
            out.push(self.order(status, placed, placed, "FR"));
        }
        for _ in 0..mix.abroad {
            let placed = now - Duration::hours(self.rng.range(2, 72) as i64);
            let country = *self.rng.pick(&["BE", "DE", "ES", "CH"]);
            out.push(self.order("Shipped", placed, placed + Duration::hours(1), country));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sellers::sample_seller;
    use marketbill_domain::{IssueRequest, Order, draft_invoice};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 05:00 UTC);

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let a = OrderGenerator::new(42, "12345").batch(OrderMix { shipped: 5, not_shipped: 2, abroad: 1 }, NOW);
        let b = OrderGenerator::new(42, "12345").batch(OrderMix { shipped: 5, not_shipped: 2, abroad: 1 }, NOW);
        let c = OrderGenerator::new(43, "12345").batch(OrderMix { shipped: 5, not_shipped: 2, abroad: 1 }, NOW);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn generated_shipped_orders_parse_and_are_invoiceable_by_every_sample_seller() {
        for n in 0..5 {
            let seller = sample_seller(n, "12345").unwrap();
            let mut g = OrderGenerator::new(n as u64, "12345");
            for value in g.batch(OrderMix { shipped: 60, not_shipped: 0, abroad: 0 }, NOW) {
                let order = Order::from_value(value).unwrap();
                let draft =
                    draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: NOW });
                let fulfilled = value_is_fulfilled(&order);
                match draft {
                    Ok(draft) => {
                        assert_eq!(draft.body.totals.tax_inclusive, order.total_price.unwrap().selling_price.unwrap())
                    }
                    // A home-country seller's own default rate cannot apply to a sale from French
                    // stock when the order carries no French rate: refused, to be fixed by hand.
                    Err(r) if n == 3 && fulfilled && r.code() == "unknownVatRate" => {}
                    // The OSS seller's business buyer without a VAT number is asked for it.
                    Err(r)
                        if seller.vat_scheme == marketbill_domain::seller::VatScheme::Oss
                            && r.code() == "businessBuyerWithoutVatNumber" => {}
                    Err(r) => panic!("seller {n}, order {}: {r}", order.order_id),
                }
            }
        }
    }

    fn value_is_fulfilled(order: &Order) -> bool {
        order.lines.iter().any(|l| {
            l.offer.as_ref().and_then(|o| o.supply_mode.as_ref())
                == Some(&marketbill_domain::order::SupplyMode::Fulfillment)
        })
    }

    #[test]
    fn ineligible_orders_are_refused_for_their_reason() {
        let seller = sample_seller(0, "12345").unwrap();
        let mut g = OrderGenerator::new(9, "12345");
        let batch = g.batch(OrderMix { shipped: 0, not_shipped: 10, abroad: 5 }, NOW);
        let codes: Vec<&str> = batch
            .into_iter()
            .map(|v| {
                let order = Order::from_value(v).unwrap();
                draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: NOW })
                    .unwrap_err()
                    .code()
            })
            .collect();
        assert_eq!(codes.iter().filter(|c| **c == "notShipped").count(), 10);
        assert_eq!(codes.iter().filter(|c| **c == "notShippedToFrance").count(), 5);
    }

    #[test]
    fn long_orders_reach_sixty_lines() {
        let mut g = OrderGenerator::new(1, "12345");
        let max = (0..400).map(|_| g.shipped(NOW, 48)["lines"].as_array().map_or(0, Vec::len)).max().unwrap();
        assert!(max > 30, "longest order had {max} lines");
        assert!(max <= 60);
    }
}
