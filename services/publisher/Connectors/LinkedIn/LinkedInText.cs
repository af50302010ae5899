using System.Text;

namespace ScheduledPosts.Publisher.Connectors.LinkedIn;

/// <summary>
/// A post's commentary in LinkedIn's "little" text format
/// (https://learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format): the characters
/// <c>| { } @ [ ] ( ) &lt; &gt; # \ * _ ~</c> are reserved for mentions, hashtags and templates, and stand for themselves
/// only when escaped with a backslash. Everything is escaped but a <c>#</c> that starts a hashtag (<c>#launch</c>, the
/// format's HashtagElement), so the text reads exactly as written and its hashtags stay hashtags.
/// </summary>
public static class LinkedInText
{
    private const string Reserved = @"|{}@[]()<>#\*_~";

    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (Reserved.Contains(c) && !(c == '#' && StartsHashtag(text, i)))
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }

    /// <summary>The text a commentary reads as: each escaped character stands for itself.</summary>
    public static string Unescape(string commentary)
    {
        var text = new StringBuilder(commentary.Length);
        for (int i = 0; i < commentary.Length; i++)
        {
            if (commentary[i] == '\\' && i + 1 < commentary.Length && Reserved.Contains(commentary[i + 1]))
            {
                i++;
            }

            text.Append(commentary[i]);
        }

        return text.ToString();
    }

    // A hashtag: '#' at the start or after a non-word character, followed by a letter or digit.
    private static bool StartsHashtag(string text, int index)
        => index + 1 < text.Length && char.IsLetterOrDigit(text[index + 1])
           && (index == 0 || !char.IsLetterOrDigit(text[index - 1]) && text[index - 1] != '_');
}
