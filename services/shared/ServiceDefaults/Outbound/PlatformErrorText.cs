using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace ScheduledPosts.ServiceDefaults.Outbound;

/// <summary>
/// What of a failed response from a user-supplied URL may be shown to users: never the raw body (it could be an internal
/// page or a metadata document), only the status code with its standard phrase, and the platform's documented JSON
/// error (<c>{"error": "…"}</c>, as Mastodon answers), cut short and stripped of control characters.
/// </summary>
public static class PlatformErrorText
{
    /// <summary>The longest platform error message kept.</summary>
    public const int MaxLength = 200;

    // More than any platform's JSON error needs; a longer body is not read further and not shown.
    private const int MaxBodyBytes = 16 * 1024;

    /// <summary>The status code and its standard reason phrase, e.g. <c>503 Service Unavailable</c>; never the server's own phrase.</summary>
    public static string Status(int statusCode)
        => ReasonPhrases.GetReasonPhrase(statusCode) is { Length: > 0 } phrase ? $"{statusCode} {phrase}" : $"{statusCode}";

    /// <summary>
    /// The sanitised <c>error</c> string of a JSON object body of at most 16 KiB, or null when the body is anything else.
    /// </summary>
    public static async Task<string?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
        => (await ReadFieldsAsync(response, "error", cancellationToken)).First;

    /// <summary>
    /// An AT Protocol XRPC error (https://atproto.com/specs/xrpc#error-responses): the sanitised <c>error</c> name and
    /// <c>message</c> of a JSON object body of at most 16 KiB; each null when absent, both when the body is anything else.
    /// </summary>
    public static async Task<(string? Error, string? Message)> ReadXrpcAsync(HttpResponseMessage response, CancellationToken cancellationToken)
        => await ReadFieldsAsync(response, "message", cancellationToken);

    // The "error" string and one more string field of a short JSON object body, sanitised.
    private static async Task<(string? First, string? Second)> ReadFieldsAsync(HttpResponseMessage response, string second, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = await ReadPrefixAsync(response.Content, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return (null, null);
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object
                ? (Field(json.RootElement, "error"), Field(json.RootElement, second))
                : (null, null);
        }
        catch (JsonException)
        {
            return (null, null);
        }

        static string? Field(JsonElement root, string name)
            => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
               && Sanitise(value.GetString()) is { Length: > 0 } text
                ? text
                : null;
    }

    /// <summary>Control and format characters become spaces, runs of white space one space, and the text is cut to <paramref name="maxLength"/>.</summary>
    public static string Sanitise(string? text, int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var clean = new StringBuilder(Math.Min(text.Length, maxLength + 1));
        foreach (char c in text)
        {
            if (clean.Length > maxLength)
            {
                break;
            }

            bool blank = char.IsWhiteSpace(c) || char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format;
            if (!blank)
            {
                clean.Append(c);
            }
            else if (clean.Length > 0 && clean[^1] != ' ')
            {
                clean.Append(' ');
            }
        }

        string result = clean.ToString().TrimEnd();
        return result.Length <= maxLength ? result : result[..maxLength].TrimEnd() + "…";
    }

    private static async Task<byte[]> ReadPrefixAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxBodyBytes + 1];
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        // A body over the limit is not a platform's short error: not parsed, not shown.
        return read > MaxBodyBytes ? [] : buffer[..read];
    }
}
