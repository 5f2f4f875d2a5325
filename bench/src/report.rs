//! The README's performance tables, from a results file.

use std::fmt::Write;

use crate::Results;

fn mib(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1e3)
}

/// ", median of 5: 1.1–1.5 s" when the run was repeated.
fn spread(runs: &[f64]) -> String {
    match (runs.first(), runs.last()) {
        (Some(lo), Some(hi)) if runs.len() > 1 => format!(", median of {}: {lo:.2}–{hi:.2} s", runs.len()),
        _ => String::new(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "Machine: {} ({} cores, {:.0} GiB), {}, {}; peers: {}; measured {}.\n",
        m.cpu, m.cores, m.memory_gib, m.rustc, m.python, m.peers, m.date
    );

    let _ = writeln!(
        s,
        "**Rendering** (median per document, release build; peers build the same content with the same font)\n"
    );
    let _ = writeln!(
        s,
        "| Invoice | Marketbill PDF + UBL | PDF alone | UBL alone | reportlab | WeasyPrint | vs reportlab | vs WeasyPrint | Sizes: ours PDF / UBL, reportlab, WeasyPrint |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for row in &r.render {
        let o = &row.ours;
        let _ = writeln!(
            s,
            "| {} lines ({} p.) | {:.3} ms | {:.3} ms | {:.3} ms | {:.1} ms | {:.1} ms | {:.0}× | {:.0}× | {} / {}, {}, {} |",
            o.lines,
            o.pages,
            o.pdf_and_ubl_ms,
            o.pdf_ms,
            o.ubl_ms,
            row.reportlab.median_ms,
            row.weasyprint.median_ms,
            row.reportlab.median_ms / o.pdf_and_ubl_ms,
            row.weasyprint.median_ms / o.pdf_and_ubl_ms,
            kb(o.pdf_bytes as u64),
            kb(o.ubl_bytes as u64),
            kb(row.reportlab.bytes),
            kb(row.weasyprint.bytes),
        );
    }

    let _ = writeln!(
        s,
        "\n**Seller run** (one seller, every order new; the simulator runs outside the measured process)\n"
    );
    let _ = writeln!(s, "| Adapters | Orders → invoices | Wall | Invoices/s | Our CPU (user + sys) | Peak RSS |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let e = &r.embedded;
    let _ = writeln!(
        s,
        "| embedded (SQLite, folder, outbox), in-process run | {} → {} | {:.2} s | {:.0} | {:.3} s ({:.3} + {:.3}){} | {:.1} MiB |",
        e.orders,
        e.issued,
        e.wall_s,
        e.orders_per_s(),
        e.cpu_s,
        e.cpu_user_s,
        e.cpu_sys_s,
        spread(&e.cpu_s_runs),
        e.peak_rss_mib
    );
    if let Some(l) = &r.lambda {
        let f = &l.seller_run;
        let _ = writeln!(
            s,
            "| `seller-run` Lambda binary, moto + simulator | {} → {} | {:.1} s | {:.1} | {:.2} s (whole process) | {:.1} MiB |",
            f.orders,
            f.issued,
            f.wall_s,
            f.orders_per_s(),
            f.cpu_s,
            f.peak_rss_mib
        );
        let _ = writeln!(
            s,
            "| `import-tracker` after it | {} imports | {:.1} s | | | {:.1} MiB |",
            l.seller_run_requests.count("s3 PUT") / 2,
            l.tracker_wall_s,
            l.tracker_peak_rss_mib
        );
    }

    let _ = writeln!(s, "\n**Lambda functions** (x86_64 release binaries under a Runtime API stand-in on loopback)\n");
    let _ = writeln!(s, "| Function | Start → ready (median, min–max) | RSS when ready | Binary | Zip |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for st in &r.starts {
        let _ = writeln!(
            s,
            "| {} | {:.1} ms ({:.1}–{:.1}, {} starts) | {:.1} MiB | {} | {} |",
            st.function,
            st.ready_median_ms,
            st.ready_min_ms,
            st.ready_max_ms,
            st.runs,
            st.rss_at_ready_mib,
            mib(st.binary_bytes),
            mib(st.zip_bytes)
        );
    }

    if let Some(c) = &r.cost {
        let _ = writeln!(
            s,
            "\n**Cost per 1,000 invoices** (AWS {}, arm64, list prices of {}, no free tier)\n",
            c.region, c.prices_as_of
        );
        let _ = writeln!(s, "| Item | US$ per 1,000 | Basis |");
        let _ = writeln!(s, "|---|---|---|");
        for line in &c.lines {
            let _ = writeln!(s, "| {} | {:.4} | {} |", line.item, line.usd_per_1000, line.basis);
        }
        let _ = writeln!(s, "| **All-in** | **{:.3}** | |", c.total_usd_per_1000);
        let _ = writeln!(
            s,
            "| Incumbent (€0.10 per invoice) | {:.2} | {:.0}× ours |",
            c.incumbent_usd_per_1000,
            c.incumbent_usd_per_1000 / c.total_usd_per_1000.max(1e-9)
        );
        let _ = writeln!(
            s,
            "\nKeeping the documents the whole legal retention in S3 Standard adds US${:.3} per 1,000 invoices.",
            c.retention_storage_usd_per_1000
        );
    }

    let _ = writeln!(s, "\n**Targets**\n");
    let _ = writeln!(s, "| Target | Measured | |");
    let _ = writeln!(s, "|---|---|---|");
    if let Some(row) = r.render.iter().find(|x| x.ours.lines == 3) {
        let o = &row.ours;
        let _ = writeln!(
            s,
            "| PDF + UBL ≤ 0.5 ms (3 lines) | {:.3} ms | {} |",
            o.pdf_and_ubl_ms,
            verdict(o.pdf_and_ubl_ms <= 0.5)
        );
        let x = row.reportlab.median_ms / o.pdf_and_ubl_ms;
        let _ = writeln!(s, "| ≥ 100× faster than reportlab | {x:.0}× | {} |", verdict(x >= 100.0));
    }
    let _ =
        writeln!(s, "| 1,000-order run ≤ 1 s of our CPU (embedded) | {:.3} s | {} |", e.cpu_s, verdict(e.cpu_s <= 1.0));
    let worst = r.starts.iter().map(|x| x.ready_median_ms).fold(0.0, f64::max);
    let _ = writeln!(s, "| Start to ready ≤ 30 ms | ≤ {worst:.1} ms (slowest function) | {} |", verdict(worst <= 30.0));
    if let Some(l) = &r.lambda {
        let rss = l.seller_run.peak_rss_mib;
        let _ = writeln!(
            s,
            "| Peak RSS ≤ 64 MB (seller-run Lambda, 1,000 orders) | {rss:.1} MiB | {} |",
            verdict(rss * 1.048_576 <= 64.0)
        );
    }
    if let Some(c) = &r.cost {
        let _ = writeln!(
            s,
            "| ≤ US$0.20 per 1,000 invoices all-in | US${:.3} | {} |",
            c.total_usd_per_1000,
            verdict(c.total_usd_per_1000 <= 0.20)
        );
    }
    s
}
