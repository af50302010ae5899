using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Json;

public static class OptionalJsonBody
{
    /// <summary>
    /// For actions whose body is optional (<c>POST /posts/{id}/cancel</c>): no body is null; a body must be JSON.
    /// Minimal APIs would otherwise refuse a bodyless POST at routing, before the endpoint runs.
    /// </summary>
    public static async Task<T?> ReadOptionalJsonAsync<T>(this HttpRequest request) where T : class
    {
        if (request.ContentLength == 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count == 0))
        {
            return null;
        }

        if (!request.HasJsonContentType())
        {
            throw ApiException.BadRequest("The request body must be JSON (Content-Type: application/json).");
        }

        try
        {
            return await request.ReadFromJsonAsync<T>(JsonDefaults.Options);
        }
        catch (JsonException)
        {
            throw ApiException.BadRequest("The request body is not valid JSON for this operation.");
        }
    }
}
