#!/usr/bin/env python3
# More unlabeled text lines for distillation (docs/benchmarks.md, issue 15,
# 2026-12-07 midday): the calibration phrases' own words (Latin lines) and
# CJK words with their 2..4-character pieces, recombined with random numbers,
# seeded; no line equal to an evaluation or development phrase.
#   python3 scripts/recombine_phrases.py N [SEED] > phrases.txt
#   bash scripts/render_ocr_lines.sh OUTDIR phrases.txt
import os, random, re, sys
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'testdata', 'ocr', '')
calib = [l.strip() for l in open(root + 'calib_phrases.txt', encoding='utf-8') if l.strip()]
banned = set(l.strip() for f in ('phrases.txt', 'dev_phrases.txt')
             for l in open(root + f, encoding='utf-8'))
cjk = lambda s: re.search(r'[^\x00-\x7f]', s) is not None
latin_tok = [t for p in calib if not cjk(p) for t in p.split()]
cjk_tok = []
for p in calib:
    if cjk(p):
        for t in p.split():
            if cjk(t):
                cjk_tok.append(t)
                # substrings of 2..4 characters
                for k in range(len(t) - 1):
                    cjk_tok.append(t[k:k + random.Random(k).randint(2, 4)])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
n = int(sys.argv[1])
def number():
    r = rng.random()
    if r < 0.5: return str(rng.randint(0, 99))
    if r < 0.8: return str(rng.randint(100, 9999))
    return '%d.%02d' % (rng.randint(0, 99), rng.randint(0, 99))
out = set()
lines = []
while len(lines) < n:
    if rng.random() < 0.25:
        parts = [rng.choice(cjk_tok)]
        if rng.random() < 0.6:
            parts += [number()] + ([rng.choice(cjk_tok)] if rng.random() < 0.7 else [])
        line = ' '.join(parts)
    else:
        k = rng.randint(2, 4)
        parts = [rng.choice(latin_tok) for _ in range(k)]
        if rng.random() < 0.3:
            parts.insert(rng.randint(0, k), number())
        line = ' '.join(parts)
    if line in banned or line in out or len(line) > 28:
        continue
    out.add(line)
    lines.append(line)
print('\n'.join(lines))
