// Command tlogclient reads a waste-ledger log the way a third party would, with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog (code we did not write), and fails loudly on any
// disagreement with our format:
//
//   - it opens the checkpoints with note.Open and the operator vkey;
//   - it reads every entry bundle of the checkpoint's tree over HTTP (c2sp.org/tlog-tiles),
//     opens every entry note with note.Open and the vkeys it is given, and checks that each
//     note's RFC 6962 record hash is the leaf hash in the tiles (authenticated against the
//     checkpoint's root by tlog.TileHashReader);
//   - it proves one record's inclusion (tlog.ProveRecord/CheckRecord) and the consistency of an
//     older checkpoint (tlog.ProveTree/CheckTree) from the tiles alone, and compares both proofs
//     with the ones our JSON API serves.
//
// It prints one JSON object on success and exits 1 with a message otherwise.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // tlog-tiles: 256 hashes per tile

type server struct {
	log   string // the tlog-tiles prefix, e.g. http://127.0.0.1:5000/log
	api   string // the JSON API, e.g. http://127.0.0.1:5000/api/v1
	token string // bearer token for the entry bundles, if they are not public
}

func (s *server) get(url string) ([]byte, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}

// tilePath maps Go's tile coordinates to tlog-tiles paths: Go's Tile.Path() names the height
// ("tile/8/0/x001/234"), tlog-tiles does not ("tile/0/x001/234"), and Go's data tiles are our
// entry bundles.
func tilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if t.L == -1 {
		p = "entries" + strings.TrimPrefix(p, "data")
	}
	return "tile/" + p
}

// Height, ReadTiles and SaveTiles make server a tlog.TileReader.
func (s *server) Height() int { return height }

func (s *server) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := s.get(s.log + "/" + tilePath(t))
		if err != nil {
			return nil, err
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", tilePath(t), len(data), t.W*tlog.HashSize)
		}
		out[i] = data
	}
	return out, nil
}

func (s *server) SaveTiles([]tlog.Tile, [][]byte) {}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(msg []byte, operator note.Verifier) (checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(operator))
	if err != nil {
		return checkpoint{}, fmt.Errorf("note.Open(checkpoint): %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != operator.Name() {
		return checkpoint{}, fmt.Errorf("checkpoint text %q: bad origin", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, err
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, err
	}
	return checkpoint{lines[0], size, root}, nil
}

// unbundle splits an entry bundle: big-endian uint16 length, then that many bytes.
func unbundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if n == 0 || len(data) < 2+n {
			return nil, errors.New("bundle ends inside an entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}

// readEntries opens every note of the tree and checks it against the authenticated leaf hashes.
func readEntries(s *server, cp checkpoint, hr tlog.HashReader, known note.Verifiers) ([][]byte, error) {
	var all [][]byte
	for start := int64(0); start < cp.size; start += 1 << height {
		w := cp.size - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		data, err := s.get(s.log + "/" + tilePath(t))
		if err != nil {
			return nil, err
		}
		notes, err := unbundle(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tilePath(t), err)
		}
		if int64(len(notes)) != w {
			return nil, fmt.Errorf("%s: %d entries, want %d", tilePath(t), len(notes), w)
		}
		indexes := make([]int64, w)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		leaves, err := hr.ReadHashes(indexes)
		if err != nil {
			return nil, err
		}
		for i, msg := range notes {
			if _, err := note.Open(msg, known); err != nil {
				return nil, fmt.Errorf("entry %d: note.Open: %w", start+int64(i), err)
			}
			if tlog.RecordHash(msg) != leaves[i] {
				return nil, fmt.Errorf("entry %d: record hash is not the tile's leaf hash", start+int64(i))
			}
		}
		all = append(all, notes...)
	}
	return all, nil
}

type apiProof struct {
	Size   int64    `json:"size"`
	Root   string   `json:"root"`
	Hashes []string `json:"hashes"`
}

// sameProof compares a proof computed by Go from the tiles with the one our API serves.
func sameProof(s *server, query string, want []tlog.Hash) error {
	body, err := s.get(s.api + "/proofs/" + query)
	if err != nil {
		return err
	}
	var p apiProof
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	if len(p.Hashes) != len(want) {
		return fmt.Errorf("%s: %d hashes from the API, %d from the tiles", query, len(p.Hashes), len(want))
	}
	for i, h := range p.Hashes {
		if h != base64.StdEncoding.EncodeToString(want[i][:]) {
			return fmt.Errorf("%s: hash %d differs", query, i)
		}
	}
	return nil
}

func run() (map[string]any, error) {
	s := &server{}
	flag.StringVar(&s.log, "log", "", "tlog-tiles prefix URL")
	flag.StringVar(&s.api, "api", "", "JSON API URL")
	flag.StringVar(&s.token, "token", "", "bearer token for the entry bundles")
	operatorKey := flag.String("operator", "", "the operator vkey")
	vkeys := flag.String("vkeys", "", "file with the other vkeys, one per line")
	oldPath := flag.String("old", "", "an older checkpoint to prove consistency with")
	index := flag.Int64("index", 0, "the entry whose inclusion to prove")
	flag.Parse()

	operator, err := note.NewVerifier(*operatorKey)
	if err != nil {
		return nil, fmt.Errorf("operator vkey: %w", err)
	}
	verifiers := []note.Verifier{operator}
	if *vkeys != "" {
		text, err := os.ReadFile(*vkeys)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Fields(string(text)) {
			v, err := note.NewVerifier(line)
			if err != nil {
				return nil, fmt.Errorf("vkey %q: %w", line, err)
			}
			verifiers = append(verifiers, v)
		}
	}

	raw, err := s.get(s.log + "/checkpoint")
	if err != nil {
		return nil, err
	}
	cp, err := openCheckpoint(raw, operator)
	if err != nil {
		return nil, err
	}
	oldRaw, err := os.ReadFile(*oldPath)
	if err != nil {
		return nil, err
	}
	old, err := openCheckpoint(oldRaw, operator)
	if err != nil {
		return nil, err
	}

	hr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, s)
	notes, err := readEntries(s, cp, hr, note.VerifierList(verifiers...))
	if err != nil {
		return nil, err
	}

	rp, err := tlog.ProveRecord(cp.size, *index, hr)
	if err != nil {
		return nil, fmt.Errorf("ProveRecord: %w", err)
	}
	if err := tlog.CheckRecord(rp, cp.size, cp.root, *index, tlog.RecordHash(notes[*index])); err != nil {
		return nil, fmt.Errorf("CheckRecord: %w", err)
	}
	if err := sameProof(s, fmt.Sprintf("inclusion?index=%d&size=%d", *index, cp.size), rp); err != nil {
		return nil, err
	}
	tp, err := tlog.ProveTree(cp.size, old.size, hr)
	if err != nil {
		return nil, fmt.Errorf("ProveTree: %w", err)
	}
	if err := tlog.CheckTree(tp, cp.size, cp.root, old.size, old.root); err != nil {
		return nil, fmt.Errorf("CheckTree: %w", err)
	}
	if err := sameProof(s, fmt.Sprintf("consistency?old=%d&new=%d", old.size, cp.size), tp); err != nil {
		return nil, err
	}
	treeHash, err := tlog.TreeHash(cp.size, hr)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"origin": cp.origin, "size": cp.size, "root": cp.root.String(),
		"tree_hash": treeHash.String(), "entries_opened": len(notes),
		"index": *index, "inclusion_hashes": len(rp),
		"old_size": old.size, "consistency_hashes": len(tp),
	}, nil
}

func main() {
	out, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogclient:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
