use watchpost_web::targets::Targets;
use watchpost_web::{Config, Engine, Limits, Request};
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let reqs: Vec<Request> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    if let Ok(f) = std::env::var("BIGREQ") {
        let r: Request = serde_json::from_str(std::fs::read_to_string(f).unwrap().trim()).unwrap();
        let engine = Engine::new(Config::default());
        let t = std::time::Instant::now();
        for _ in 0..100 {
            std::hint::black_box(engine.inspect(&r));
        }
        eprintln!(
            "per request {:?} targets {}",
            t.elapsed() / 100,
            watchpost_web::targets::Targets::of(&r, &Default::default())
                .items
                .len()
        );
        return;
    }
    if let Ok(v) = std::env::var("JSONVAL") {
        let body = format!(
            "[{}]",
            (0..1000)
                .map(|i| format!("{{\"k{i}\":\"{v}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let engine = Engine::new(Config::default());
        let r = Request {
            method: "POST".into(),
            path: "/e".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
            ..Default::default()
        };
        let t = std::time::Instant::now();
        for _ in 0..50 {
            std::hint::black_box(engine.inspect(&r));
        }
        eprintln!("per value {:?}", t.elapsed() / 50000);
        return;
    }
    if std::env::var("UAONLY").is_ok() {
        let engine = Engine::new(Config::default());
        let r = Request {
            method: "GET".into(),
            path: "/".into(),
            headers: vec![(
                "User-Agent".into(),
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".into(),
            )],
            ..Default::default()
        };
        for _ in 0..200000 {
            std::hint::black_box(engine.inspect(&r));
        }
        return;
    }
    let mut per: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut tt = std::time::Duration::ZERO;
    for r in &reqs {
        let t = std::time::Instant::now();
        let ts = Targets::of(r, &Limits::default());
        tt += t.elapsed();
        for x in ts.items {
            let e = per
                .entry(format!(
                    "{:?}{}",
                    x.location,
                    if matches!(x.location, watchpost_web::Location::Header) {
                        x.name.clone()
                    } else {
                        String::new()
                    }
                ))
                .or_default();
            e.0 += 1;
            e.1 += x.lower.len();
        }
    }
    for (k, v) in &per {
        if v.0 > 300 {
            eprintln!("{k} {} {}", v.0, v.1);
        }
    }
    eprintln!("targets {:?}", tt);
    let engine = Engine::new(Config::default());
    for ua in [
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "plain",
    ] {
        let r = Request {
            method: "GET".into(),
            path: "/".into(),
            headers: vec![("User-Agent".into(), ua.into())],
            ..Default::default()
        };
        let t = std::time::Instant::now();
        for _ in 0..if std::env::var("UAONLY").is_ok() {
            400000
        } else {
            20000
        } {
            std::hint::black_box(engine.inspect(&r));
        }
        eprintln!("ua {:?} per req", t.elapsed() / 20000);
    }
    let mut slow: Vec<(std::time::Duration, usize)> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let t = std::time::Instant::now();
            std::hint::black_box(engine.inspect(r));
            (t.elapsed(), i)
        })
        .collect();
    slow.sort();
    let total: std::time::Duration = slow.iter().map(|x| x.0).sum();
    let top: std::time::Duration = slow.iter().rev().take(300).map(|x| x.0).sum();
    eprintln!("total {:?} top300 {:?}", total, top);
    for (d, i) in slow.iter().rev().take(12) {
        let r = &reqs[*i];
        eprintln!(
            "SLOW {:?} len {} {} {}",
            d,
            r.body.len() + r.query.len(),
            r.path.chars().take(60).collect::<String>(),
            r.body.chars().take(80).collect::<String>()
        );
    }
    let mut n = 0;
    let mut flagged = 0;
    let mut rules = std::collections::BTreeMap::<&str, usize>::new();
    for r in &reqs {
        let v = engine.inspect(r);
        if v.is_attack() {
            flagged += 1;
        }
        for h in &v.hits {
            *rules.entry(h.hit.rule).or_default() += 1;
        }
    }
    let t = std::time::Instant::now();
    for _ in 0..3 {
        for r in &reqs {
            n += engine.inspect(r).hits.len();
        }
    }
    eprintln!(
        "flagged {flagged} rules {:?}",
        rules
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!(
        "{n} {:?} {:.0}/s",
        t.elapsed(),
        (3 * reqs.len()) as f64 / t.elapsed().as_secs_f64()
    );
}
#[allow(dead_code)]
fn x() {}
