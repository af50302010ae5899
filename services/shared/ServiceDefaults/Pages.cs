using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults;

/// <summary>
/// One page of a list ordered by its key (AIP-158's <c>page_size</c> and <c>page_token</c>): at most <see cref="Size"/>
/// items after <see cref="AfterKey"/>. The token is opaque to callers: the last key of the previous page, encoded.
/// </summary>
public sealed record PageRequest(int Size, string? AfterKey)
{
    public const int DefaultSize = 50;
    public const int MaxSize = 100;

    /// <summary>A request's page: 0 means <see cref="DefaultSize"/>, more than <see cref="MaxSize"/> is taken as it.</summary>
    public static PageRequest Parse(int pageSize, string? pageToken)
    {
        if (pageSize < 0)
        {
            throw ApiException.Validation("page_size", "page_size must not be negative.");
        }

        string? after = null;
        if (!string.IsNullOrEmpty(pageToken))
        {
            try
            {
                after = Encoding.UTF8.GetString(WebEncoders.Base64UrlDecode(pageToken)) is ['p', '1', ':', .. var key] && key.Length > 0 ? key : null;
            }
            catch (FormatException)
            {
            }

            _ = after ?? throw ApiException.Validation("page_token", "page_token is not one this API returned.");
        }

        return new PageRequest(pageSize == 0 ? DefaultSize : Math.Min(pageSize, MaxSize), after);
    }

    /// <summary>The page of <paramref name="fetched"/> (read with a limit of <see cref="Size"/> + 1) and the token of the next, null on the last.</summary>
    public (IReadOnlyList<T> Items, string? NextToken) Cut<T>(IReadOnlyList<T> fetched, Func<T, string> key)
        => fetched.Count > Size
            ? ([.. fetched.Take(Size)], WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes($"p1:{key(fetched[Size - 1])}")))
            : (fetched, null);
}
