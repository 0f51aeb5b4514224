// Package inflate decodes a raw DEFLATE stream (RFC 1951) as it arrives
// on a connection, for IMAP COMPRESS=DEFLATE (RFC 4978).
//
// compress/flate's reader hands out data only at a sync flush (an empty
// stored block) or when its window fills, and klauspost/compress's
// partial-block mode reads ten bits past each block's end before it
// returns the block. A client that ends each command with zlib's
// Z_PARTIAL_FLUSH (isync does) sends the end of a block but only some of
// the empty block after it, and waits for the answer: both readers wait
// for bits that come only with the next command. This reader never reads
// a bit it does not need, and returns what it has decoded at the end of
// every block, or as soon as no more input is buffered.
//
// Limits: the window is RFC 1951's 32 KiB, fixed; Huffman tables are
// fixed-size arrays; nothing grows with the input. Invalid input is an
// error, after which every Read returns it.
package inflate

import (
	"bufio"
	"errors"
	"io"
)

const (
	windowSize = 1 << 15
	windowMask = windowSize - 1
	maxBits    = 15  // longest Huffman code (RFC 1951 §3.2.7)
	maxLit     = 288 // literal/length symbols, with the two never used
	maxDist    = 30
)

// ErrCorrupt is returned for input that is not DEFLATE.
var ErrCorrupt = errors.New("inflate: corrupt input")

// huffman is a canonical Huffman code as RFC 1951 §3.2.2 builds it:
// the number of codes of each length and the symbols in code order.
type huffman struct {
	count  [maxBits + 1]uint16
	symbol [maxLit]uint16
}

// build makes the code from code lengths. An over-subscribed set is
// corrupt; an incomplete one is allowed (a single distance code, or no
// distance codes, is legal), and decoding an unused code is corrupt.
func (h *huffman) build(lengths []uint8) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l <= maxBits; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return ErrCorrupt
		}
	}
	var offs [maxBits + 1]uint16
	for l := 1; l < maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return nil
}

// Block states.
const (
	stateHeader = iota
	stateStored
	stateHuffman
	stateEnd
)

// Reader inflates a raw DEFLATE stream.
type Reader struct {
	r     *bufio.Reader
	bits  uint32 // bits read from r and not used yet, low bit first
	nbits uint

	win     [windowSize]byte
	wpos    int
	written int // bytes written to win, up to windowSize

	state    int
	final    bool
	stored   int // bytes left in a stored block
	copyLen  int // a match being copied
	copyDist int
	lit      huffman
	dist     huffman
	err      error
}

// NewReader reads the stream from r. Bytes r has buffered belong to the
// stream.
func NewReader(r *bufio.Reader) *Reader { return &Reader{r: r} }

// need makes sure n (at most 24) bits are in the bit buffer.
func (z *Reader) need(n uint) error {
	for z.nbits < n {
		b, err := z.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		z.bits |= uint32(b) << z.nbits
		z.nbits += 8
	}
	return nil
}

// getBits returns the next n bits (at most 16), low bit first.
func (z *Reader) getBits(n uint) (int, error) {
	if err := z.need(n); err != nil {
		return 0, err
	}
	v := int(z.bits & (1<<n - 1))
	z.bits >>= n
	z.nbits -= n
	return v, nil
}

// decode reads one symbol, a bit at a time, so no bit past its code is
// read (RFC 1951 §3.1.1: Huffman codes are packed most significant bit
// first).
func (z *Reader) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, err := z.getBits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := int(h.count[l])
		if code-first < count {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, ErrCorrupt
}

func (z *Reader) put(b byte) {
	z.win[z.wpos] = b
	z.wpos = (z.wpos + 1) & windowMask
	if z.written < windowSize {
		z.written++
	}
}

// Read returns decoded bytes. It returns early rather than block on
// input while it has something to return, and always at a block's end.
func (z *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && z.err == nil {
		if z.copyLen > 0 {
			for z.copyLen > 0 && n < len(p) {
				b := z.win[(z.wpos-z.copyDist)&windowMask]
				z.put(b)
				p[n] = b
				n++
				z.copyLen--
			}
			continue
		}
		if n > 0 && z.r.Buffered() == 0 && z.nbits < 8 {
			break
		}
		switch z.state {
		case stateEnd:
			z.err = io.EOF
		case stateHeader:
			if n > 0 {
				return n, nil // a block ended: hand it over
			}
			z.err = z.header()
		case stateStored:
			if z.stored == 0 {
				z.state = stateHeader
				if z.final {
					z.state = stateEnd
				}
				continue
			}
			b, err := z.getBits(8)
			if err != nil {
				z.err = err
				break
			}
			z.put(byte(b))
			p[n] = byte(b)
			n++
			z.stored--
		case stateHuffman:
			sym, err := z.decode(&z.lit)
			switch {
			case err != nil:
				z.err = err
			case sym < 256:
				z.put(byte(sym))
				p[n] = byte(sym)
				n++
			case sym == 256:
				z.state = stateHeader
				if z.final {
					z.state = stateEnd
				}
			default:
				z.err = z.match(sym)
			}
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// Length and distance codes (RFC 1951 §3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// match reads a length symbol's extra bits and its distance and sets up
// the copy.
func (z *Reader) match(sym int) error {
	sym -= 257
	if sym >= len(lengthBase) {
		return ErrCorrupt
	}
	extra, err := z.getBits(uint(lengthExtra[sym]))
	if err != nil {
		return err
	}
	length := int(lengthBase[sym]) + extra
	d, err := z.decode(&z.dist)
	if err != nil {
		return err
	}
	if d >= maxDist {
		return ErrCorrupt
	}
	extra, err = z.getBits(uint(distExtra[d]))
	if err != nil {
		return err
	}
	dist := int(distBase[d]) + extra
	if dist > z.written {
		return ErrCorrupt
	}
	z.copyLen, z.copyDist = length, dist
	return nil
}

// header reads a block header and what follows it up to the block's
// data: LEN for a stored block, the code for a dynamic one.
func (z *Reader) header() error {
	h, err := z.getBits(3)
	if err != nil {
		return err
	}
	z.final = h&1 == 1
	switch h >> 1 {
	case 0:
		z.bits >>= z.nbits % 8 // to a byte boundary
		z.nbits -= z.nbits % 8
		ln, err := z.getBits(16)
		if err != nil {
			return err
		}
		nln, err := z.getBits(16)
		if err != nil {
			return err
		}
		if ln != ^nln&0xffff {
			return ErrCorrupt
		}
		z.stored, z.state = ln, stateStored
		return nil
	case 1:
		z.fixed()
	case 2:
		if err := z.dynamic(); err != nil {
			return err
		}
	default:
		return ErrCorrupt
	}
	z.state = stateHuffman
	return nil
}

// fixed sets the codes of RFC 1951 §3.2.6.
func (z *Reader) fixed() {
	var l [maxLit]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	z.lit.build(l[:])
	var d [maxDist]uint8
	for i := range d {
		d[i] = 5
	}
	z.dist.build(d[:])
}

// codeOrder is the order of code length code lengths (RFC 1951 §3.2.7).
var codeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the codes of a dynamic block (RFC 1951 §3.2.7).
func (z *Reader) dynamic() error {
	v, err := z.getBits(14)
	if err != nil {
		return err
	}
	nlit, ndist, ncode := v&31+257, (v>>5)&31+1, v>>10+4
	if nlit > 286 || ndist > maxDist {
		return ErrCorrupt
	}
	var cl [19]uint8
	for i := range ncode {
		b, err := z.getBits(3)
		if err != nil {
			return err
		}
		cl[codeOrder[i]] = uint8(b)
	}
	var lencode huffman
	if err := lencode.build(cl[:]); err != nil {
		return err
	}
	var lengths [maxLit + maxDist]uint8
	for i := 0; i < nlit+ndist; {
		sym, err := z.decode(&lencode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return ErrCorrupt
			}
			val = lengths[i-1]
			r, err := z.getBits(2)
			if err != nil {
				return err
			}
			rep = 3 + r
		case 17:
			r, err := z.getBits(3)
			if err != nil {
				return err
			}
			rep = 3 + r
		default:
			r, err := z.getBits(7)
			if err != nil {
				return err
			}
			rep = 11 + r
		}
		if i+rep > nlit+ndist {
			return ErrCorrupt
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return ErrCorrupt // no end-of-block code
	}
	if err := z.lit.build(lengths[:nlit]); err != nil {
		return err
	}
	return z.dist.build(lengths[nlit : nlit+ndist])
}
