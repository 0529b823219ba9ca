// ---- G1 of BN254 (y² = x³ + 3 over Fq), Jacobian coordinates as in arkworks:
// (X, Y, Z) stands for (X/Z², Y/Z³); Z = 0 is the identity.
struct Jac {
    x: array<u32, 8>,
    y: array<u32, 8>,
    z: array<u32, 8>,
}

// An affine base; the identity is stored as (0, 0), which is not on the curve.
struct Aff {
    x: array<u32, 8>,
    y: array<u32, 8>,
}

fn jac_identity() -> Jac {
    return Jac(FQ_ONE, FQ_ONE, FQ_ZERO);
}

fn jac_is_identity(p: Jac) -> bool {
    return fq_is_zero(p.z);
}

fn aff_is_identity(p: Aff) -> bool {
    return fq_is_zero(p.x) && fq_is_zero(p.y);
}

// dbl-2009-l (a = 0). The identity doubles to Z3 = 2·Y·0 = 0.
fn jac_double(p: Jac) -> Jac {
    let a = fq_sqr(p.x);
    let b = fq_sqr(p.y);
    let c = fq_sqr(b);
    let xb = fq_add(p.x, b);
    let d = fq_double(fq_sub(fq_sub(fq_sqr(xb), a), c));
    let e = fq_add(fq_double(a), a);
    let f = fq_sqr(e);
    let x3 = fq_sub(f, fq_double(d));
    let c8 = fq_double(fq_double(fq_double(c)));
    let y3 = fq_sub(fq_mul(e, fq_sub(d, x3)), c8);
    let z3 = fq_double(fq_mul(p.y, p.z));
    return Jac(x3, y3, z3);
}

// P + (x2, y2) with (x2, y2) affine and not the identity (madd-2007-bl).
fn jac_add_affine(p: Jac, x2: array<u32, 8>, y2: array<u32, 8>) -> Jac {
    if (jac_is_identity(p)) {
        return Jac(x2, y2, FQ_ONE);
    }
    let z1z1 = fq_sqr(p.z);
    let u2 = fq_mul(x2, z1z1);
    let s2 = fq_mul(y2, fq_mul(p.z, z1z1));
    let h = fq_sub(u2, p.x);
    let r = fq_double(fq_sub(s2, p.y));
    if (fq_is_zero(h)) {
        if (fq_is_zero(r)) {
            return jac_double(p);
        }
        return jac_identity();
    }
    let hh = fq_sqr(h);
    let i = fq_double(fq_double(hh));
    let j = fq_mul(h, i);
    let v = fq_mul(p.x, i);
    let x3 = fq_sub(fq_sub(fq_sqr(r), j), fq_double(v));
    let y3 = fq_sub(fq_mul(r, fq_sub(v, x3)), fq_double(fq_mul(p.y, j)));
    let z3 = fq_sub(fq_sub(fq_sqr(fq_add(p.z, h)), z1z1), hh);
    return Jac(x3, y3, z3);
}

// P + Q, both Jacobian (add-2007-bl).
fn jac_add(p: Jac, q: Jac) -> Jac {
    if (jac_is_identity(p)) {
        return q;
    }
    if (jac_is_identity(q)) {
        return p;
    }
    let z1z1 = fq_sqr(p.z);
    let z2z2 = fq_sqr(q.z);
    let u1 = fq_mul(p.x, z2z2);
    let u2 = fq_mul(q.x, z1z1);
    let s1 = fq_mul(p.y, fq_mul(q.z, z2z2));
    let s2 = fq_mul(q.y, fq_mul(p.z, z1z1));
    let h = fq_sub(u2, u1);
    let r = fq_double(fq_sub(s2, s1));
    if (fq_is_zero(h)) {
        if (fq_is_zero(r)) {
            return jac_double(p);
        }
        return jac_identity();
    }
    let i = fq_sqr(fq_double(h));
    let j = fq_mul(h, i);
    let v = fq_mul(u1, i);
    let x3 = fq_sub(fq_sub(fq_sqr(r), j), fq_double(v));
    let y3 = fq_sub(fq_mul(r, fq_sub(v, x3)), fq_double(fq_mul(s1, j)));
    let zz = fq_sub(fq_sub(fq_sqr(fq_add(p.z, q.z)), z1z1), z2z2);
    let z3 = fq_mul(zz, h);
    return Jac(x3, y3, z3);
}

// k·P for a small k, double-and-add from the top set bit.
fn jac_mul_u32(p: Jac, k: u32) -> Jac {
    var acc = jac_identity();
    if (k == 0u) {
        return acc;
    }
    let top = 31u - countLeadingZeros(k);
    for (var i = i32(top); i >= 0; i = i - 1) {
        acc = jac_double(acc);
        if (((k >> u32(i)) & 1u) == 1u) {
            acc = jac_add(acc, p);
        }
    }
    return acc;
}
