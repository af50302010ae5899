using System.Net;
using System.Text.RegularExpressions;

namespace ScheduledPosts.Publisher.Connectors.X;

/// <summary>
/// A post's text in the form an earlier attempt is matched by. X returns a post's text with every link replaced by its
/// t.co link, a link to the attached media appended, and <c>&amp;</c>, <c>&lt;</c>, <c>&gt;</c> as HTML entities; so both
/// sides are compared entity-decoded, without their links, white space collapsed.
/// </summary>
public static partial class XPostText
{
    public static string Comparable(string text)
        => Spaces().Replace(Links().Replace(WebUtility.HtmlDecode(text), " "), " ").Trim();

    [GeneratedRegex(@"(?:https?://|www\.)\S+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Links();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
