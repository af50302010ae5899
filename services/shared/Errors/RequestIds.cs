using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>Every response carries <c>X-Request-Id</c>, kept from the caller (the gateway) when given.</summary>
public static class RequestIds
{
    public const string Header = "X-Request-Id";
    private const int MaxLength = 128;

    public static string Get(HttpContext context)
    {
        if (context.Items.TryGetValue(Header, out var existing) && existing is string id)
        {
            return id;
        }

        string incoming = context.Request.Headers[Header].ToString();
        id = IsAcceptable(incoming) ? incoming : Ids.New("req");
        context.Items[Header] = id;
        return id;
    }

    private static bool IsAcceptable(string value)
        => value.Length is > 0 and <= MaxLength && value.All(c => c is >= '!' and <= '~');
}
