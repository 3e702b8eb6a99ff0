package tokens

import (
	"encoding/base64"
	"image"
	_ "image/gif" // register decoders for DecodeConfig of data: URLs
	_ "image/jpeg"
	_ "image/png"
	"strings"

	"github.com/llmgate/llmgate/wire"
)

// imageCost is the published price of an image in tokens: base for a
// low-detail image or once per high-detail image, tile per 512 px tile.
type imageCost struct{ base, tile int }

// imageCostFor returns OpenAI's published image costs for model:
// gpt-4o-mini 2833 + 5667 per tile; o1, o1-pro and o3 75 + 150; everything
// else (gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo and unknown models) 85 + 170.
// Models that bill images in 32 px patches (gpt-4.1-mini/nano, o4-mini)
// are estimated with the tile formula.
func imageCostFor(model string) imageCost {
	switch {
	case strings.HasPrefix(model, "gpt-4o-mini"), strings.HasPrefix(model, "ft:gpt-4o-mini"):
		return imageCost{2833, 5667}
	case model == "o1" || strings.HasPrefix(model, "o1-") || model == "o3" || strings.HasPrefix(model, "o3-"):
		return imageCost{75, 150}
	}
	return imageCost{85, 170}
}

// ImageTokens returns the prompt tokens of one image part by OpenAI's
// published tile formula. Detail "low" costs the base alone. Detail
// "high", "auto" and "" (auto is treated as high, the upper bound of what
// the model may choose) scale the image to fit in 2048×2048, then so that
// its shorter side is at most 768 px, and cost base + tile × the number of
// 512 px tiles. An unknown size (width or height <= 0) is priced as the
// most expensive one, 2×4 tiles. For gpt-4o: low 85, 1024×1024 high 765.
func ImageTokens(model string, width, height int, detail string) int {
	c := imageCostFor(model)
	if detail == "low" {
		return c.base
	}
	if width <= 0 || height <= 0 {
		return c.base + 8*c.tile
	}
	w, h := float64(width), float64(height)
	if m := max(w, h); m > 2048 {
		w, h = w*2048/m, h*2048/m
	}
	if m := min(w, h); m > 768 {
		w, h = w*768/m, h*768/m
	}
	tiles := ceilDiv(w, 512) * ceilDiv(h, 512)
	return c.base + c.tile*tiles
}

func ceilDiv(x float64, d int) int {
	n := int(x) / d
	if float64(n*d) < x {
		n++
	}
	return n
}

func imagePartTokens(model string, u *wire.ImageURL, opts *ChatOptions) int {
	if u.Detail == "low" {
		return ImageTokens(model, 0, 0, "low")
	}
	if opts != nil && opts.ImageSize != nil {
		if w, h, ok := opts.ImageSize(u.URL); ok {
			return ImageTokens(model, w, h, u.Detail)
		}
	}
	w, h, _ := dataURLSize(u.URL)
	return ImageTokens(model, w, h, u.Detail)
}

// dataURLSize decodes the pixel size of a base64 data: URL image (PNG,
// JPEG or GIF), reading only the header.
func dataURLSize(url string) (int, int, bool) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return 0, 0, false
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return 0, 0, false
	}
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(payload)))
	if err != nil {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}
