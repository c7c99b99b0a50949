//! `cargo bench --bench serialize`: the bench-serialize operations under criterion, so a
//! change can be compared with the last run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use movieapp::serialization::{Format, book_value, codecs::Subject};

fn formats(c: &mut Criterion) {
    let subject = Subject::new(book_value());
    for format in Format::ALL {
        let mut group = c.benchmark_group(format.name());
        let mut buf = Vec::with_capacity(1024);
        group.bench_function("encode", |b| {
            b.iter(|| format.encode(black_box(&subject), black_box(&mut buf)))
        });
        let encoded = {
            let mut buf = Vec::new();
            format
                .encode(&subject, &mut buf)
                .expect("the book value encodes");
            buf
        };
        group.bench_function("decode", |b| b.iter(|| format.decode(black_box(&encoded))));
        group.finish();
    }
}

criterion_group!(benches, formats);
criterion_main!(benches);
