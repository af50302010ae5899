using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ScheduledPosts.Contracts.Platforms;

/// <summary>
/// A post's length as X counts it, after twitter-text's configuration v3 (github.com/twitter/twitter-text,
/// <c>config/v3.json</c> and <c>config/README.md</c>): the text in NFC; each link counts 23 (<c>transformedURLLength</c>,
/// the t.co length); an emoji counts 2 however many code points build it (<c>emojiParsingEnabled</c>); every other code
/// point 1 in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and U+2032–U+2037, and 2 elsewhere (<c>defaultWeight</c> 200
/// on <c>scale</c> 100). Links are what starts with <c>http://</c>, <c>https://</c> or <c>www.</c>; twitter-text also links
/// bare domains (<c>example.com</c>) by its list of top-level domains, which this does not, so such a caption may count
/// shorter here than on X.
/// </summary>
public static partial class XWeightedLength
{
    /// <summary>What every link counts, whatever its length (t.co).</summary>
    public const int LinkLength = 23;

    private static readonly (int Start, int End)[] LightRanges = [(0, 4351), (8192, 8205), (8208, 8223), (8242, 8247)];

    public static int Of(string text)
    {
        string normalised = text.Normalize(NormalizationForm.FormC);
        int length = 0;
        int at = 0;
        foreach (Match link in Links().Matches(normalised))
        {
            length += Weigh(normalised[at..link.Index]) + LinkLength;
            at = link.Index + link.Length;
        }

        return length + Weigh(normalised[at..]);
    }

    private static int Weigh(string text)
    {
        int length = 0;
        var graphemes = StringInfo.GetTextElementEnumerator(text);
        while (graphemes.MoveNext())
        {
            string grapheme = graphemes.GetTextElement();
            if (IsEmoji(grapheme))
            {
                length += 2;
                continue;
            }

            foreach (var rune in grapheme.EnumerateRunes())
            {
                length += IsLight(rune.Value) ? 1 : 2;
            }
        }

        return length;
    }

    private static bool IsLight(int codePoint)
    {
        foreach (var (start, end) in LightRanges)
        {
            if (codePoint >= start && codePoint <= end)
            {
                return true;
            }
        }

        return false;
    }

    // An emoji sequence (a ZWJ family, a skin tone, a flag, a keycap, a symbol with its emoji presentation selector) is one
    // grapheme of several code points, of which one is pictographic or an emoji modifier; a lone one weighs 2 by its range.
    private static bool IsEmoji(string grapheme)
    {
        if (grapheme.EnumerateRunes().Count() < 2)
        {
            return false;
        }

        foreach (var rune in grapheme.EnumerateRunes())
        {
            int c = rune.Value;
            if (c is >= 0x1F000 and <= 0x1FAFF or >= 0x2300 and <= 0x23FF or >= 0x2600 and <= 0x27BF or >= 0x2B00 and <= 0x2BFF
                or 0xFE0F or 0x20E3 or 0x200D or >= 0xE0020 and <= 0xE007F)
            {
                return true;
            }
        }

        return false;
    }

    // A scheme or www. up to the next white space, without the punctuation that ends a sentence after it.
    [GeneratedRegex(@"(?:https?://|www\.)[^\s]+?(?=[.,;:!?)\]'""]*(?:\s|$))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Links();
}
