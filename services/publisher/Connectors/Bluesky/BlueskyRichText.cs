using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// The links and mentions of a post's text, as <c>app.bsky.richtext.facet</c>s. Bluesky shows text as it is written and
/// makes a part of it a link or a mention only where a facet says so (https://docs.bsky.app/docs/advanced-guides/post-richtext);
/// a facet's <c>byteStart</c> (inclusive) and <c>byteEnd</c> (exclusive) count bytes of the UTF-8 encoded text, not
/// characters (lexicons/app/bsky/richtext/facet.json, <c>#byteSlice</c>).
/// </summary>
public static partial class BlueskyRichText
{
    public const string LinkFeature = "app.bsky.richtext.facet#link";
    public const string MentionFeature = "app.bsky.richtext.facet#mention";

    /// <summary>A link or a mention found in the text: where it is (UTF-16 index and length) and what it names.</summary>
    /// <param name="Value">The link's URL, or the mentioned handle without its <c>@</c>.</param>
    public sealed record Span(int Index, int Length, bool IsLink, string Value);

    // An http(s) URL runs to the next white space or character that cannot end one in prose.
    [GeneratedRegex(@"https?://[^\s<>""]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Links();

    // A handle is a domain name (https://atproto.com/specs/handle): labels of letters, digits and hyphens joined by dots,
    // at least two of them, the last not starting with a digit. A mention starts the text or follows a space or an opening bracket.
    [GeneratedRegex(@"(?<=^|[\s(\[{""'])@(?<handle>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)",
        RegexOptions.CultureInvariant)]
    private static partial Regex Mentions();

    /// <summary>The links and mentions of <paramref name="text"/>, in order; a mention inside a link is part of the link.</summary>
    public static IReadOnlyList<Span> Find(string text)
    {
        var spans = new List<Span>();
        foreach (Match match in Links().Matches(text))
        {
            string url = TrimTrailingPunctuation(match.Value);
            if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0)
            {
                spans.Add(new Span(match.Index, url.Length, IsLink: true, url));
            }
        }

        foreach (Match match in Mentions().Matches(text))
        {
            if (!spans.Any(s => match.Index < s.Index + s.Length && s.Index < match.Index + match.Length))
            {
                spans.Add(new Span(match.Index, match.Length, IsLink: false, match.Groups["handle"].Value.ToLowerInvariant()));
            }
        }

        spans.Sort((a, b) => a.Index.CompareTo(b.Index));
        return spans;
    }

    /// <summary>
    /// The facets of <paramref name="text"/>: every link, and every mention whose handle <paramref name="dids"/> resolved
    /// (one it could not stays plain text).
    /// </summary>
    public static JsonArray Facets(string text, IReadOnlyList<Span> spans, IReadOnlyDictionary<string, string> dids)
    {
        var facets = new JsonArray();
        foreach (var span in spans)
        {
            JsonObject feature;
            if (span.IsLink)
            {
                feature = new JsonObject { ["$type"] = LinkFeature, ["uri"] = span.Value };
            }
            else if (dids.TryGetValue(span.Value, out string? did))
            {
                feature = new JsonObject { ["$type"] = MentionFeature, ["did"] = did };
            }
            else
            {
                continue;
            }

            int byteStart = Encoding.UTF8.GetByteCount(text.AsSpan(0, span.Index));
            int byteEnd = byteStart + Encoding.UTF8.GetByteCount(text.AsSpan(span.Index, span.Length));
            facets.Add(new JsonObject
            {
                ["index"] = new JsonObject { ["byteStart"] = byteStart, ["byteEnd"] = byteEnd },
                ["features"] = new JsonArray(feature),
            });
        }

        return facets;
    }

    // "See https://example.org/a." links https://example.org/a; a closing bracket stays only if the URL opened one.
    private static string TrimTrailingPunctuation(string url)
    {
        int end = url.Length;
        while (end > 0)
        {
            char last = url[end - 1];
            if (last is '.' or ',' or ';' or ':' or '!' or '?' or '\'' or '"'
                || (last == ')' && url.AsSpan(0, end).Count('(') < url.AsSpan(0, end).Count(')'))
                || (last == ']' && url.AsSpan(0, end).Count('[') < url.AsSpan(0, end).Count(']')))
            {
                end--;
                continue;
            }

            break;
        }

        return url[..end];
    }
}
